"""Small input and output serializers of the annotator API. Inputs validate query strings; outputs
document (and shape) the JSON, so the OpenAPI schema says exactly what each endpoint returns."""

from rest_framework import serializers

from annotator.models import Item, Judgment, Project
from annotator.models import Response as ItemResponse


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


# --- Pagination envelopes (keyset: opaque `cursor` links) ---------------------------------------

class _PageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next page, or null on the last one.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, or null on the first one.")


# --- Items --------------------------------------------------------------------------------------

class MessageSerializer(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.CharField(allow_blank=True)


class ResponseOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ItemResponse
        fields = ["id", "external_id", "position", "model_name", "content"]


class ItemOutputSerializer(serializers.ModelSerializer):
    prompt = MessageSerializer(many=True)
    metadata = serializers.DictField()
    responses = serializers.SerializerMethodField()

    class Meta:
        model = Item
        fields = ["id", "external_id", "prompt", "metadata", "responses", "submitted_count", "is_gold",
                  "created_at", "updated_at"]

    def get_responses(self, obj) -> ResponseOutputSerializer(many=True):
        return ResponseOutputSerializer(obj.responses.all(), many=True, context=self.context).data


class ItemPageSerializer(_PageSerializer):
    results = ItemOutputSerializer(many=True)


class ItemListQuerySerializer(serializers.Serializer):
    external_id = serializers.CharField(required=False, help_text="Only the item with this external id.")
    min_judgments = serializers.IntegerField(required=False, min_value=0,
                                             help_text="Items with at least this many submitted judgments.")
    is_gold = serializers.BooleanField(required=False, allow_null=True, default=None)
    updated_after = serializers.DateTimeField(required=False, help_text="ISO 8601.")


# --- Judgments ----------------------------------------------------------------------------------

class CriterionScoreOutputSerializer(serializers.Serializer):
    response_id = serializers.IntegerField()
    criterion = serializers.CharField(help_text="The criterion key.")
    value = serializers.FloatField()


class JudgmentItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()


class JudgmentOutputSerializer(serializers.ModelSerializer):
    item = serializers.SerializerMethodField()
    annotator = serializers.CharField(source="annotator.username")
    rubric_version = serializers.SerializerMethodField(help_text='"<rubric set slug>@v<number>", or null.')
    ranking = serializers.ListField(child=serializers.IntegerField(), help_text="Response ids, best first.")
    shown_order = serializers.SerializerMethodField(help_text="Response ids in the order shown (A, B, …).")
    criterion_scores = serializers.SerializerMethodField()

    class Meta:
        model = Judgment
        fields = ["id", "item", "annotator", "rubric_version", "rubric_version_id", "preference", "both_bad",
                  "ranking", "rationale", "time_spent_ms", "submitted_at", "shown_order", "criterion_scores"]

    def get_item(self, obj) -> JudgmentItemSerializer:
        return {"id": obj.item_id, "external_id": obj.item.external_id}

    def get_rubric_version(self, obj) -> str | None:
        v = obj.rubric_version
        return f"{v.rubric_set.slug}@v{v.number}" if v is not None else None

    def get_shown_order(self, obj) -> list[int]:
        return [x for x in (obj.assignment.shown_order or []) if isinstance(x, int)]

    def get_criterion_scores(self, obj) -> CriterionScoreOutputSerializer(many=True):
        return [{"response_id": c.response_id, "criterion": c.criterion.key, "value": c.value}
                for c in obj.criterion_scores.all()]


class JudgmentPageSerializer(_PageSerializer):
    results = JudgmentOutputSerializer(many=True)


class JudgmentListQuerySerializer(serializers.Serializer):
    annotator = serializers.CharField(required=False, help_text="Username of the annotator.")
    item = serializers.IntegerField(required=False, min_value=1, help_text="Item id.")
    external_id = serializers.CharField(required=False, help_text="Item external id.")
    rubric_version = serializers.IntegerField(required=False, min_value=1, help_text="Rubric version id.")
    both_bad = serializers.BooleanField(required=False, allow_null=True, default=None)
    submitted_after = serializers.DateTimeField(required=False)
    submitted_before = serializers.DateTimeField(required=False)


# --- Agreement ----------------------------------------------------------------------------------

class AgreementQuerySerializer(serializers.Serializer):
    rubric_version = serializers.IntegerField(required=False, min_value=1)
    min_pair_items = serializers.IntegerField(required=False, min_value=1, max_value=10000, default=5,
                                              help_text="Annotator pairs sharing fewer items are left out.")


class _WinnerAgreementSerializer(serializers.Serializer):
    percent_agreement = serializers.FloatField(allow_null=True)
    krippendorff_alpha_nominal = serializers.FloatField(allow_null=True)
    fleiss_kappa = serializers.FloatField(allow_null=True)


class _StrengthAgreementSerializer(serializers.Serializer):
    krippendorff_alpha_ordinal = serializers.FloatField(allow_null=True)
    krippendorff_alpha_interval = serializers.FloatField(allow_null=True)
    units = serializers.IntegerField()


class _PairSerializer(serializers.Serializer):
    annotator_a = serializers.CharField()
    annotator_b = serializers.CharField()
    items = serializers.IntegerField()
    kappa = serializers.FloatField(allow_null=True)


class _PairwiseSerializer(serializers.Serializer):
    min_items = serializers.IntegerField()
    mean = serializers.FloatField(allow_null=True)
    pairs = _PairSerializer(many=True)
    pairs_total = serializers.IntegerField()


class _AnnotatorAgreementSerializer(serializers.Serializer):
    annotator = serializers.CharField()
    judgments = serializers.IntegerField()
    agreement_with_others = serializers.FloatField(allow_null=True)
    shared_items = serializers.IntegerField()


class _CriterionAgreementSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    scale = serializers.CharField()
    level = serializers.ChoiceField(choices=["nominal", "ordinal", "interval", "ratio"])
    rubric_version = serializers.CharField()
    alpha = serializers.FloatField(allow_null=True)
    units = serializers.IntegerField()


class AgreementOutputSerializer(serializers.Serializer):
    project = serializers.IntegerField()
    rubric_version = serializers.IntegerField(allow_null=True)
    items = serializers.IntegerField()
    judgments = serializers.IntegerField()
    annotators = serializers.IntegerField()
    items_with_overlap = serializers.IntegerField(help_text="Items with at least two labelled judgments.")
    winner = _WinnerAgreementSerializer()
    strength = _StrengthAgreementSerializer()
    pairwise_cohen_kappa = _PairwiseSerializer()
    annotators_agreement = _AnnotatorAgreementSerializer(many=True)
    criteria = _CriterionAgreementSerializer(many=True)
