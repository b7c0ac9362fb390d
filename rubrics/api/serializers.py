"""Small input/output serializers of the rubric API.

Criteria input is validated by rubrics.validation (the same rules and path-named errors as the
editor and every import form); the criterion serializers here describe it for the OpenAPI schema.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from rubrics.models import Criterion, RubricEvent, RubricSet, RubricVersion


class CriterionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Criterion
        fields = ["id", "key", "title", "guidance", "kind", "importance", "points", "scale", "tags", "position",
                  "revision"]


class CriterionInputSerializer(serializers.Serializer):
    key = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9_-]*$", max_length=100,
                                 help_text="Stable across versions; lines criteria up in diffs.")
    title = serializers.CharField(max_length=300)
    guidance = serializers.CharField(required=False, allow_blank=True, help_text="Markdown.")
    kind = serializers.ChoiceField(choices=Criterion.Kind.choices, required=False, default="principle")
    importance = serializers.ChoiceField(choices=Criterion.Importance.choices, required=False,
                                         help_text='Default "pitfall" for negative points, else "important".')
    points = serializers.FloatField(min_value=-100, max_value=100, required=False, default=1,
                                    help_text="Signed, non-zero; negative for a pitfall.")
    scale = serializers.ChoiceField(choices=Criterion.Scale.choices, required=False, default="binary")
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=50)


class VersionSummarySerializer(serializers.ModelSerializer):
    based_on = serializers.SerializerMethodField()
    criterion_count = serializers.IntegerField(read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    published_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = RubricVersion
        fields = ["id", "number", "status", "notes", "content_hash", "revision", "based_on", "criterion_count",
                  "created_by", "created_at", "published_by", "published_at", "archived_at"]

    def get_based_on(self, obj) -> int | None:
        return obj.based_on.number if obj.based_on_id and obj.based_on else None


class VersionSerializer(VersionSummarySerializer):
    rubric_set = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    criteria = serializers.SerializerMethodField()
    criterion_count = None

    class Meta(VersionSummarySerializer.Meta):
        fields = [f for f in VersionSummarySerializer.Meta.fields if f != "criterion_count"] + ["rubric_set",
                                                                                                 "criteria"]

    @extend_schema_field(CriterionSerializer(many=True))
    def get_criteria(self, obj) -> list[dict]:
        criteria = sorted(obj.criteria.all(), key=lambda c: (c.position, c.id))
        return CriterionSerializer(criteria, many=True).data


class RubricSetListSerializer(serializers.ModelSerializer):
    version_count = serializers.IntegerField(read_only=True)
    latest_published = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = RubricSet
        fields = ["id", "name", "slug", "description", "version_count", "latest_published", "created_at",
                  "updated_at"]


class RubricSetDetailSerializer(serializers.ModelSerializer):
    versions = serializers.SerializerMethodField()

    class Meta:
        model = RubricSet
        fields = ["id", "name", "slug", "description", "created_at", "updated_at", "versions"]

    @extend_schema_field(VersionSummarySerializer(many=True))
    def get_versions(self, obj) -> list[dict]:
        return VersionSummarySerializer(obj.readable_versions, many=True).data


class RubricSetCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.CharField(max_length=100, required=False, allow_blank=True,
                                 help_text="Derived from the name if left out.")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    criteria = CriterionInputSerializer(many=True, required=False, help_text="Content of the first draft (v1).")


class RubricSetUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)


class DraftCreateInputSerializer(serializers.Serializer):
    from_version = serializers.IntegerField(required=False, allow_null=True,
                                            help_text="Copy this version's criteria (default: the newest published "
                                                      "or archived version; null for an empty draft).")


class DraftUpdateInputSerializer(serializers.Serializer):
    revision = serializers.IntegerField(help_text="The draft's revision you read; 409 if it changed since.")
    notes = serializers.CharField(required=False, allow_blank=True)
    criteria = CriterionInputSerializer(many=True, help_text="The whole list, in order; matched to rows by key.")


class PublishInputSerializer(serializers.Serializer):
    revision = serializers.IntegerField(required=False, help_text="If given, 409 when the draft changed since.")


class ImportInputSerializer(serializers.Serializer):
    document = serializers.JSONField(required=False, help_text="The rubric as a JSON value (any accepted form).")
    content = serializers.CharField(required=False, trim_whitespace=False,
                                    help_text="…or its text: JSON, YAML or OpenRubrics lines.")
    file = serializers.FileField(required=False, help_text="…or an upload (multipart).")
    syntax = serializers.ChoiceField(choices=["auto", "json", "yaml", "text"], required=False, default="auto")
    form = serializers.ChoiceField(choices=["auto", "rubricate", "healthbench", "openrubrics"], required=False,
                                   default="auto")
    rubric_set = serializers.CharField(required=False, allow_blank=True,
                                       help_text="Slug of an existing set to add the version to.")
    name = serializers.CharField(required=False, allow_blank=True, help_text="Name of a new set.")
    slug = serializers.CharField(required=False, allow_blank=True, help_text="Slug of a new set.")
    description = serializers.CharField(required=False, allow_blank=True)
    publish = serializers.BooleanField(required=False, default=False)


class ImportResultSerializer(serializers.Serializer):
    rubric_set = serializers.CharField()
    number = serializers.IntegerField()
    status = serializers.CharField()
    form = serializers.CharField()
    created_set = serializers.BooleanField()
    criteria = serializers.IntegerField()
    content_hash = serializers.CharField(allow_null=True)
    source_hash_matches = serializers.BooleanField(allow_null=True)


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.ChoiceField(choices=RubricEvent.Action.choices)
    actor = serializers.CharField(allow_null=True)
    version = serializers.IntegerField(allow_null=True)
    summary = serializers.CharField()
    detail = serializers.JSONField()
    created_at = serializers.DateTimeField()


class DiffSerializer(serializers.Serializer):
    old = serializers.IntegerField()
    new = serializers.IntegerField()
    identical = serializers.BooleanField()
    summary = serializers.CharField()
    added = serializers.ListField(child=serializers.DictField())
    removed = serializers.ListField(child=serializers.DictField())
    changed = serializers.ListField(child=serializers.DictField(),
                                    help_text="{key, title, old_position, new_position, moved, fields: [{field, old, "
                                              "new, lines?}]}")
    unchanged = serializers.ListField(child=serializers.CharField())
    notes = serializers.DictField(allow_null=True)
