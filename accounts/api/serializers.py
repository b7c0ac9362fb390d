from rest_framework import serializers

from accounts.models import ApiToken
from accounts.selectors import api_token_status


class TokenOutputSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at", "status"]

    def get_status(self, obj) -> str:
        return api_token_status(token=obj)


class MeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    is_staff = serializers.BooleanField()
    auth = serializers.ChoiceField(choices=["token", "session"])
    token = TokenOutputSerializer(allow_null=True)
