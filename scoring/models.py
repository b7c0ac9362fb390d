"""Scorers (reward-model backends), scoring runs and model judgments.

Unique keys make every write idempotent: a batch written twice changes nothing.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Scorer(models.Model):
    class Backend(models.TextChoices):
        HF_SEQUENCE_CLASSIFIER = "hf_sequence_classifier", "Sequence-classifier reward model"
        OPENAI_JUDGE = "openai_judge", "Generative judge (OpenAI-compatible endpoint)"
        LENGTH = "length", "Length baseline"

    class Dtype(models.TextChoices):
        AUTO = "auto", "Auto (bf16 on CUDA, fp32 on CPU)"
        FLOAT32 = "float32", "float32"
        BFLOAT16 = "bfloat16", "bfloat16"
        FLOAT16 = "float16", "float16"

    name = models.CharField(max_length=200, unique=True)
    backend = models.CharField(max_length=32, choices=Backend.choices)
    model = models.CharField(max_length=500, blank=True, help_text="Local path or hub id.")
    revision = models.CharField(max_length=200, blank=True)
    dtype = models.CharField(max_length=16, choices=Dtype.choices, default=Dtype.AUTO)
    max_length = models.PositiveIntegerField(default=4096)
    batch_token_budget = models.PositiveIntegerField(default=16384)
    trust_remote_code = models.BooleanField(default=False)
    # Backend-specific settings (judge: base_url, api_key_env, mode, temperature, …).
    options = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ScoringRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Scope(models.TextChoices):
        ALL = "all", "All items"
        UNSCORED = "unscored", "Only unscored"

    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="scoring_runs")
    scorer = models.ForeignKey(Scorer, on_delete=models.PROTECT, related_name="runs")
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.ALL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    tokens = models.PositiveBigIntegerField(default=0)
    # Judge verdicts that could not be parsed (kept with their raw output; not fatal).
    parse_failures = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # The scorer's settings when the run started: provenance, and what the workers use even if
    # an admin edits the scorer meanwhile.
    scorer_config = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One active run per project and scorer: a second one would only redo the same work.
            models.UniqueConstraint(
                fields=["project", "scorer"], condition=Q(status__in=["queued", "running"]),
                name="scoringrun_one_active_per_scorer",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.scorer} on {self.project}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED, self.Status.CANCELLED)


class ScoringBatch(models.Model):
    """A slice of a run's responses, one Celery task. Claimed with a conditional UPDATE."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        # Its failed responses were handed to a newer batch by "retry failed".
        RETRIED = "retried", "Retried"

    run = models.ForeignKey(ScoringRun, on_delete=models.CASCADE, related_name="batches")
    index = models.PositiveIntegerField()
    response_ids = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    tokens = models.PositiveBigIntegerField(default=0)
    parse_failures = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # {response_id: message} for the responses that could not be scored; "retry" re-runs these.
    errors = models.JSONField(default=dict, blank=True)
    # The claim: whoever holds an unexpired lease works on the batch; the worker renews it after
    # every micro-batch. A lease that ran out means the worker died: the watchdog re-enqueues it.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    # When its message was last handed to the broker; null: never (the broker was down). The database
    # is the truth for work to do: the reconciler sends pending batches whose message never left or
    # was lost (services.scoring_reconcile).
    sent_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="scoringbatch_unique_index"),
        ]
        indexes = [
            # The watchdog's query: running batches whose lease ran out.
            models.Index(fields=["lease_expires_at"], name="scoringbatch_running_lease",
                         condition=Q(status="running")),
            # The reconciler's query: pending batches, never sent or sent longest ago first.
            models.Index(fields=["sent_at"], name="scoringbatch_pending_sent",
                         condition=Q(status="pending")),
        ]

    def __str__(self) -> str:
        return f"batch {self.index} of run {self.run_id} ({self.status})"


class ResponseScore(models.Model):
    """A scalar reward for one response by one scorer, for one rendered input."""

    response = models.ForeignKey("annotator.Response", on_delete=models.CASCADE, related_name="model_scores")
    scorer = models.ForeignKey(Scorer, on_delete=models.CASCADE, related_name="response_scores")
    # sha256 of what the model saw (rendered input + scorer settings that change it).
    input_hash = models.CharField(max_length=64)
    value = models.FloatField()
    components = models.JSONField(default=dict, blank=True, help_text="Named heads of multi-objective RMs.")
    # A gated multi-objective RM's gating weights per component (ArmoRM), for this input.
    gating = models.JSONField(default=dict, blank=True)
    # Rubric scores (criteria judges): criteria whose verdict did not parse. Under the default
    # policy they are left out of numerator and denominator and the score is partial.
    unparsed_criteria = models.PositiveSmallIntegerField(default=0)
    token_count = models.PositiveIntegerField(default=0)
    truncated = models.BooleanField(default=False)
    model_revision = models.CharField(max_length=200, blank=True)
    run = models.ForeignKey(ScoringRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["response", "scorer", "input_hash"], name="responsescore_unique_input"
            ),
        ]
        indexes = [models.Index(fields=["scorer", "response"], name="responsescore_scorer")]


class CriterionScore(models.Model):
    """A judge's verdict on one response against one criterion."""

    class ParseStatus(models.TextChoices):
        OK = "ok", "Parsed"
        FAILED = "failed", "Could not parse"
        ERROR = "error", "Request failed"

    response = models.ForeignKey("annotator.Response", on_delete=models.CASCADE, related_name="criterion_scores")
    criterion = models.ForeignKey("rubrics.Criterion", on_delete=models.PROTECT, related_name="model_scores")
    scorer = models.ForeignKey(Scorer, on_delete=models.CASCADE, related_name="criterion_scores")
    met = models.BooleanField(null=True, blank=True)
    # The judge's native grade when it gives one (Prometheus 1–5, a JSON "score"); null for a yes/no
    # verdict. Never the criterion's points (those are the criterion's).
    score = models.FloatField(null=True, blank=True)
    explanation = models.TextField(blank=True)
    raw_output = models.TextField(blank=True)
    parse_status = models.CharField(max_length=16, choices=ParseStatus.choices, default=ParseStatus.OK)
    # Where the endpoint returned logprobs: P of each rating token at the verdict ({"true": .9,
    # "false": .1} or {"1": …, "5": …}) and its expected value: P(met) for a true/false verdict,
    # Σ n·p(n) on the scale of `score` (the judge's own grade) otherwise.
    distribution = models.JSONField(default=dict, blank=True)
    expected_score = models.FloatField(null=True, blank=True)
    run = models.ForeignKey(ScoringRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["response", "criterion", "scorer"], name="criterionscore_unique"
            ),
            models.CheckConstraint(
                condition=~Q(parse_status="ok") | Q(met__isnull=False) | Q(score__isnull=False),
                name="criterionscore_ok_has_verdict",
            ),
        ]


class PairwiseScore(models.Model):
    """A pairwise judge's verdict on two responses of one item, asked in both orders.

    `response_a`/`response_b` are in stored order (position). `verdict_ab` is the judge's answer
    with A shown first, `verdict_ba` with B shown first, both mapped back to stored order
    ("a", "b", "tie" or "" when unparsed). `consistent` is true when both orders agree: a judge
    that prefers whatever comes first has low consistency (position bias).
    """

    class Verdict(models.TextChoices):
        A = "a", "A better"
        B = "b", "B better"
        TIE = "tie", "Tie"
        NONE = "", "No verdict"

    item = models.ForeignKey("annotator.Item", on_delete=models.CASCADE, related_name="pairwise_scores")
    response_a = models.ForeignKey("annotator.Response", on_delete=models.CASCADE, related_name="+")
    response_b = models.ForeignKey("annotator.Response", on_delete=models.CASCADE, related_name="+")
    scorer = models.ForeignKey(Scorer, on_delete=models.CASCADE, related_name="pairwise_scores")
    input_hash = models.CharField(max_length=64)
    verdict_ab = models.CharField(max_length=8, choices=Verdict.choices, blank=True)
    verdict_ba = models.CharField(max_length=8, choices=Verdict.choices, blank=True)
    consistent = models.BooleanField(null=True, blank=True)
    # Share of the two orders won by A (1, 0.5 per tie, 0); null when neither order parsed.
    preference_a = models.FloatField(null=True, blank=True)
    # From logprobs, in stored order ({"a", "b", "tie"} → P) per order, and the mean over both
    # orders of P(A better) + ½ P(tie): breaks ties and inconsistent pairs, measures calibration.
    distribution_ab = models.JSONField(default=dict, blank=True)
    distribution_ba = models.JSONField(default=dict, blank=True)
    expected_preference_a = models.FloatField(null=True, blank=True)
    raw_output_ab = models.TextField(blank=True)
    raw_output_ba = models.TextField(blank=True)
    parse_failures = models.PositiveSmallIntegerField(default=0)
    run = models.ForeignKey(ScoringRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["item", "response_a", "response_b"]
        constraints = [
            models.UniqueConstraint(
                fields=["scorer", "response_a", "response_b"], name="pairwisescore_unique_pair"
            ),
            models.CheckConstraint(condition=~Q(response_a=models.F("response_b")),
                                   name="pairwisescore_distinct_responses"),
        ]

    def __str__(self) -> str:
        return f"{self.response_a_id} vs {self.response_b_id} by {self.scorer_id}"


class ProbeRun(models.Model):
    """A robustness probe of one scorer on one project: "master key" non-answers (scoring/probes.py)
    scored against a sample of the project's prompts. A judge that accepts them, or a reward model
    that scores them above the project's median chosen response, is being fooled."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="probe_runs")
    scorer = models.ForeignKey(Scorer, on_delete=models.CASCADE, related_name="probe_runs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # The sampled items (their prompts are what the probes answer) and the scorer's settings.
    item_ids = models.JSONField(default=list)
    scorer_config = models.JSONField(default=dict, blank=True)
    # Reward models: a probe is a false positive when it scores above this (see threshold_basis).
    threshold = models.FloatField(null=True, blank=True)
    threshold_basis = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "scorer"], condition=Q(status__in=["queued", "running"]),
                name="proberun_one_active_per_scorer",
            ),
        ]

    def __str__(self) -> str:
        return f"probe {self.pk} of {self.scorer_id} on {self.project_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class ProbeResult(models.Model):
    """One probe answer to one sampled prompt, as the scorer saw it."""

    probe_run = models.ForeignKey(ProbeRun, on_delete=models.CASCADE, related_name="results")
    item = models.ForeignKey("annotator.Item", on_delete=models.CASCADE, related_name="+")
    probe = models.CharField(max_length=64)
    text = models.TextField(blank=True)
    value = models.FloatField(null=True, blank=True)
    # True: the scorer was fooled (a false positive); None: no verdict (an error, a parse failure).
    accepted = models.BooleanField(null=True, blank=True)
    error = models.TextField(blank=True)
    # The judge's raw outputs (per criterion, or both pairwise orders) or the RM's components.
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["probe_run", "probe", "item"]
        constraints = [
            models.UniqueConstraint(fields=["probe_run", "item", "probe"], name="proberesult_unique"),
        ]
