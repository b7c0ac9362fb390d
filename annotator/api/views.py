from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.selectors import project_get_for_user, project_list_for_user

from .serializers import ProjectOutputSerializer


class ProjectListApi(APIView):
    @extend_schema(responses=ProjectOutputSerializer(many=True), operation_id="projects_list")
    def get(self, request):
        projects = project_list_for_user(user=request.user)
        return Response(ProjectOutputSerializer(projects, many=True).data)


class ProjectDetailApi(APIView):
    @extend_schema(responses=ProjectOutputSerializer, operation_id="projects_retrieve")
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(ProjectOutputSerializer(project).data)
