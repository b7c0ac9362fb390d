from rest_framework import serializers

from annotator.models import Project


class ProjectOutputSerializer(serializers.ModelSerializer):
    rubric_version = serializers.SerializerMethodField()
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id", "name", "description", "overlap", "rubric_version", "guidelines",
            "rationale_required", "randomize_order", "hide_model_identities", "queue_order",
            "lease_minutes", "role", "created_at", "updated_at",
        ]

    def get_rubric_version(self, obj) -> dict | None:
        v = obj.rubric_version
        if v is None:
            return None
        return {"id": v.id, "rubric_set": v.rubric_set.slug, "number": v.number}

    def get_role(self, obj) -> str | None:
        return getattr(obj, "my_role", None) or getattr(getattr(obj, "membership", None), "role", None)
