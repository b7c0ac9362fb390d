"""API v1 of the annotator app: one APIView per operation; parse, check membership, call a selector.

Every project-scoped endpoint fetches the project through project_get_for_user, so an outsider gets
404 whatever the method, and a list never holds another project's rows.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.access import ROLES_STAFF, project_get_for_user
from annotator.agreement import project_agreement
from annotator.selectors import item_get_for_project, item_list, judgment_get, judgment_list, project_list_for_user
from config.api_errors import error_responses
from config.pagination import KeysetPagination

from .serializers import (
    AgreementOutputSerializer,
    AgreementQuerySerializer,
    ItemListQuerySerializer,
    ItemOutputSerializer,
    ItemPageSerializer,
    JudgmentListQuerySerializer,
    JudgmentOutputSerializer,
    JudgmentPageSerializer,
    ProjectOutputSerializer,
)

PAGE_PARAMETERS = [
    OpenApiParameter("cursor", OpenApiTypes.STR, description="Opaque cursor from a `next`/`previous` link."),
    OpenApiParameter("page_size", OpenApiTypes.INT, description="Rows per page (default 100, at most 1000)."),
]


def _query(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data



class ProjectListApi(APIView):
    @extend_schema(responses={200: ProjectOutputSerializer(many=True), **error_responses()},
                   operation_id="projects_list", summary="The projects I belong to", tags=["projects"])
    def get(self, request):
        projects = project_list_for_user(user=request.user)
        return Response(ProjectOutputSerializer(projects, many=True).data)


class ProjectDetailApi(APIView):
    @extend_schema(responses={200: ProjectOutputSerializer, **error_responses()}, operation_id="projects_retrieve",
                   summary="One project", tags=["projects"])
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(ProjectOutputSerializer(project).data)


class ItemListApi(APIView):
    @extend_schema(
        operation_id="items_list",
        summary="Items of a project, with their responses (keyset pages; admins and reviewers)",
        description="Items carry what annotators must not see (gold flags, import ids and positions, model names), "
                    "so annotators get 403 here as on the item pages; they see items through their queue.",
        parameters=[ItemListQuerySerializer, *PAGE_PARAMETERS], responses={200: ItemPageSerializer,
                                                                            **error_responses(400)},
        tags=["items"],
    )
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
        filters = _query(ItemListQuerySerializer, request)
        paginator = KeysetPagination()
        page = paginator.paginate_queryset(item_list(project=project, filters=filters), request, view=self)
        data = ItemOutputSerializer(page, many=True).data
        return paginator.get_paginated_response(data)


class ItemDetailApi(APIView):
    @extend_schema(operation_id="items_retrieve", summary="One item with its responses (admins and reviewers)",
                   responses={200: ItemOutputSerializer, **error_responses()}, tags=["items"])
    def get(self, request, project_id: int, item_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
        item = item_get_for_project(project=project, item_id=item_id)
        return Response(ItemOutputSerializer(item).data)


class JudgmentListApi(APIView):
    @extend_schema(
        operation_id="judgments_list",
        summary="Human judgments of a project (keyset pages; annotators see their own)",
        parameters=[JudgmentListQuerySerializer, *PAGE_PARAMETERS],
        responses={200: JudgmentPageSerializer, **error_responses(400)}, tags=["judgments"],
    )
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        filters = _query(JudgmentListQuerySerializer, request)
        paginator = KeysetPagination()
        qs = judgment_list(project=project, user=request.user, filters=filters)
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(JudgmentOutputSerializer(page, many=True).data)


class JudgmentDetailApi(APIView):
    @extend_schema(operation_id="judgments_retrieve", summary="One judgment",
                   responses={200: JudgmentOutputSerializer, **error_responses()}, tags=["judgments"])
    def get(self, request, project_id: int, judgment_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        judgment = judgment_get(project=project, user=request.user, judgment_id=judgment_id)
        return Response(JudgmentOutputSerializer(judgment).data)


class AgreementApi(APIView):
    @extend_schema(
        operation_id="agreement_retrieve",
        summary="Inter-annotator agreement: Krippendorff's α, Fleiss' κ, pairwise Cohen's κ, per criterion",
        parameters=[AgreementQuerySerializer], responses={200: AgreementOutputSerializer, **error_responses(400)},
        tags=["agreement"],
    )
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
        query = _query(AgreementQuerySerializer, request)
        report = project_agreement(project=project, rubric_version_id=query.get("rubric_version"),
                                   min_pair_items=query["min_pair_items"])
        return Response(AgreementOutputSerializer(report).data)
