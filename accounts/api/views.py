"""API v1 of the accounts app: who I am, my tokens. One APIView per operation."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiToken
from accounts.selectors import api_token_get_for_user, api_token_list_for_user
from accounts.services import api_token_revoke
from config.api_errors import error_responses

from .serializers import MeOutputSerializer, TokenOutputSerializer


class MeApi(APIView):
    @extend_schema(operation_id="me_retrieve", summary="Who I am, and the token this request used",
                   responses={200: MeOutputSerializer, **error_responses()}, tags=["tokens"])
    def get(self, request):
        token = request.auth if isinstance(request.auth, ApiToken) else None
        data = {"id": request.user.pk, "username": request.user.get_username(), "is_staff": request.user.is_staff,
                "auth": "token" if token is not None else "session",
                "token": token}
        return Response(MeOutputSerializer(data).data)


class TokenListApi(APIView):
    @extend_schema(operation_id="tokens_list", summary="My API tokens (secrets are never shown again)",
                   responses={200: TokenOutputSerializer(many=True), **error_responses()}, tags=["tokens"])
    def get(self, request):
        return Response(TokenOutputSerializer(api_token_list_for_user(user=request.user), many=True).data)


class TokenRevokeApi(APIView):
    @extend_schema(operation_id="tokens_revoke", summary="Revoke one of my tokens (idempotent)",
                   request=None, responses={204: None, **error_responses()}, tags=["tokens"])
    def delete(self, request, token_id: int):
        token = api_token_get_for_user(user=request.user, token_id=token_id)
        api_token_revoke(token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)
