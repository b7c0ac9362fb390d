"""Small input/output serializers of the scoring API."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from scoring.models import ResponseScore, Scorer, ScoringRun


class ScorerOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Scorer
        fields = ["id", "name", "backend", "model", "revision", "dtype", "max_length", "batch_token_budget",
                  "is_active", "created_at", "updated_at"]


class RunStartInputSerializer(serializers.Serializer):
    scorer = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="Scorer id (GET /api/v1/scorers/).")
    scope = serializers.ChoiceField(choices=ScoringRun.Scope.choices, default=ScoringRun.Scope.ALL,
                                    help_text="all: every response; unscored: only those without a score "
                                              "from this scorer.")


class ProgressSerializer(serializers.Serializer):
    percent = serializers.IntegerField()
    elapsed_s = serializers.FloatField(allow_null=True)
    responses_per_s = serializers.FloatField(allow_null=True)
    tokens_per_s = serializers.FloatField(allow_null=True)
    eta_s = serializers.FloatField(allow_null=True)
    batches = serializers.DictField(child=serializers.IntegerField(), help_text="Batch counts by status.")


class RunOutputSerializer(serializers.ModelSerializer):
    scorer = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()

    class Meta:
        model = ScoringRun
        fields = ["id", "project", "scorer", "scope", "status", "total", "done", "failed", "tokens",
                  "parse_failures", "error", "progress", "created_at", "started_at", "finished_at"]

    @extend_schema_field({"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                                                            "backend": {"type": "string"}}})
    def get_scorer(self, obj) -> dict:
        return {"id": obj.scorer_id, "name": obj.scorer.name, "backend": obj.scorer.backend}

    @extend_schema_field(ProgressSerializer(allow_null=True))
    def get_progress(self, obj) -> dict | None:
        progress = self.context.get("progress", {}).get(obj.pk)
        if progress is None:
            return None
        return ProgressSerializer(progress.as_dict()).data


class ModelScoreOutputSerializer(serializers.ModelSerializer):
    item = serializers.SerializerMethodField()
    response_external_id = serializers.CharField(source="response.external_id")
    scorer_name = serializers.CharField(source="scorer.name")

    class Meta:
        model = ResponseScore
        fields = ["id", "item", "response", "response_external_id", "scorer", "scorer_name", "value", "components",
                  "token_count", "truncated", "input_hash", "model_revision", "run", "created_at"]

    @extend_schema_field({"type": "object", "properties": {"id": {"type": "integer"},
                                                            "external_id": {"type": "string"}}})
    def get_item(self, obj) -> dict:
        return {"id": obj.response.item_id, "external_id": obj.response.item.external_id}


class ModelScorePageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next page, or null on the last one.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, or null on the first one.")
    results = ModelScoreOutputSerializer(many=True)


class LengthBiasSerializer(serializers.Serializer):
    pairs = serializers.IntegerField()
    model_prefers_longer = serializers.FloatField(allow_null=True)
    humans_prefer_longer = serializers.FloatField(allow_null=True)
    score_length_spearman = serializers.FloatField(allow_null=True)


class SubsetAccuracySerializer(serializers.Serializer):
    compared = serializers.IntegerField()
    correct = serializers.IntegerField()
    ties = serializers.IntegerField()
    failures = serializers.IntegerField()
    accuracy = serializers.FloatField(allow_null=True)


class RewardBenchSerializer(serializers.Serializer):
    sections = serializers.DictField(child=serializers.FloatField(),
                                     help_text="Chat, Chat Hard, Safety, Reasoning: subset accuracies weighted by "
                                               "RewardBench's example counts.")
    score = serializers.FloatField(allow_null=True, help_text="Mean of the sections present.")


class RewardBench2Serializer(serializers.Serializer):
    best_of_n = serializers.DictField(child=SubsetAccuracySerializer(),
                                      help_text="Per subset: items whose chosen beats every rejected completion.")
    ties = serializers.FloatField(allow_null=True, help_text="The Ties subset's score (process_single_model).")
    score = serializers.FloatField(allow_null=True, help_text="Mean of the subset scores.")


class CalibrationSerializer(serializers.Serializer):
    pairs = serializers.IntegerField(help_text="(response, criterion) pairs with a human majority and a P(met).")
    brier = serializers.FloatField(help_text="Mean (P(met) − human)², lower is better.")
    ece = serializers.FloatField(help_text="Expected calibration error over 10 bins of P(met).")
    verdict_accuracy = serializers.FloatField(help_text="Share of parsed verdicts that agree with the humans.")


class ReferenceAccuracySerializer(serializers.Serializer):
    reference = serializers.ChoiceField(choices=["human", "gold"],
                                        help_text="human: the judgments' majority; gold: the items' gold labels.")
    human_pairs = serializers.IntegerField(help_text="Decided pairs of this reference.")
    human_undecided = serializers.IntegerField(help_text="Pairs this reference leaves undecided (even votes, ties).")
    compared = serializers.IntegerField(help_text="Decided pairs with a model score (or verdict) on both sides.")
    correct = serializers.IntegerField()
    incorrect = serializers.IntegerField()
    ties = serializers.IntegerField(help_text="Equal rewards (0) or a judge's tie (½).")
    parse_failures = serializers.IntegerField(help_text="Judge verdicts that did not parse (½ each order).")
    split_orders = serializers.IntegerField(help_text="A judge's A/B and B/A verdicts disagree (½).")
    accuracy = serializers.FloatField(allow_null=True,
                                      help_text="RewardBench: Σ outcomes / compared (reward ties 0, judge ties ½).")
    strict_accuracy = serializers.FloatField(allow_null=True, help_text="correct / compared.")
    tie_rate = serializers.FloatField(allow_null=True)
    missing_scores = serializers.IntegerField()
    length_bias = LengthBiasSerializer()
    scored_responses = serializers.IntegerField()
    position_consistency = serializers.FloatField(allow_null=True)
    pairwise_judged = serializers.IntegerField()
    subsets = serializers.DictField(child=SubsetAccuracySerializer(), help_text="By the items' metadata.subset.")
    rewardbench = RewardBenchSerializer()
    rewardbench2 = RewardBench2Serializer()
    ties_broken_by_expectation = serializers.IntegerField(
        help_text="Ties and split orders that a judge's expected score (from logprobs) decides.")
    accuracy_with_expectation = serializers.FloatField(
        allow_null=True, help_text="Strict accuracy with those decided by the expected score.")
    calibration = CalibrationSerializer(allow_null=True, help_text="Judges with logprobs: P(met) against the "
                                                                   "human majority on binary criteria.")


class AccuracySerializer(ReferenceAccuracySerializer):
    scorer = serializers.DictField()
    other_reference = ReferenceAccuracySerializer(allow_null=True,
                                                  help_text="The same scorer against the other reference.")


class AggregateSerializer(serializers.Serializer):
    mean = serializers.FloatField(allow_null=True, help_text="Mean of per-example scores, clipped to [0, 1].")
    n = serializers.IntegerField()
    bootstrap_std = serializers.FloatField(allow_null=True, help_text="Std of 1000 bootstrap means (HealthBench).")
    ci95 = serializers.ListField(child=serializers.FloatField(), allow_null=True)


class RubricScoreSerializer(serializers.Serializer):
    judge = serializers.CharField(help_text='"humans" (every annotator) or a scorer\'s name.')
    scorer = serializers.IntegerField(allow_null=True)
    overall = AggregateSerializer()
    tags = serializers.DictField(child=AggregateSerializer(), help_text="Per criterion tag (e.g. axis:accuracy).")
    examples = serializers.IntegerField(help_text="Responses graded (per grader).")
    partial = serializers.IntegerField(help_text="Scored without their unparsed criteria.")
    unscored = serializers.IntegerField()


class ProbeStartInputSerializer(serializers.Serializer):
    scorer = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="Scorer id (GET /api/v1/scorers/).")
    prompts = serializers.IntegerField(min_value=1, max_value=1000, required=False,
                                       help_text="Prompts to sample (default SCORING_PROBE_PROMPTS).")


class ProbeRunOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    scorer = serializers.IntegerField(source="scorer_id")
    prompts = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField()

    def get_prompts(self, obj) -> int:
        return len(obj.item_ids)


class ProbeRateSerializer(serializers.Serializer):
    probe = serializers.CharField(help_text="Probe key (scoring/probes.py).")
    text = serializers.CharField(help_text="The non-answer given as the response.")
    cases = serializers.IntegerField(help_text="Prompts it was scored against.")
    false_positives = serializers.IntegerField()
    errors = serializers.IntegerField(help_text="Cases without a verdict (left out of the rate).")
    false_positive_rate = serializers.FloatField(allow_null=True)


class ProbeReportSerializer(serializers.Serializer):
    scorer = serializers.DictField()
    probe_run = serializers.DictField()
    threshold = serializers.FloatField(allow_null=True, help_text="Reward models: the score a probe must beat "
                                                                   "to count as a false positive.")
    threshold_basis = serializers.CharField()
    cases = serializers.IntegerField()
    false_positives = serializers.IntegerField()
    false_positive_rate = serializers.FloatField(allow_null=True)
    probes = ProbeRateSerializer(many=True)


class ProbeReportPageSerializer(serializers.Serializer):
    active = ProbeRunOutputSerializer(many=True, help_text="Probe runs queued or running.")
    reports = ProbeReportSerializer(many=True, help_text="Per scorer, its latest finished probe run.")
