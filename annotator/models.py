"""Projects, items, responses, the assignment queue, human judgments, review.

Preference convention (as HelpSteer2): `preference` is −3..3 relative to the item's responses in
their stored order (`Response.position`): negative = the first response is better, 0 = tie.
What the annotator saw as "A" and "B" is recorded in `Assignment.shown_order`.
"""

import random

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


def default_lease_minutes() -> int:
    """A new project's lease length: the ASSIGNMENT_LEASE_MINUTES setting (30 unless set)."""
    return settings.ASSIGNMENT_LEASE_MINUTES


class KeepsCounters:
    """A model with counters that database triggers keep (migrations 0005, 0008). A plain save() of an
    existing row writes every field, so it would put back the stale counts read earlier: such a
    save writes every field except the counters."""

    COUNTERS: tuple[str, ...] = ()

    def save(self, *args, **kwargs):
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [f.name for f in self._meta.concrete_fields
                                       if not f.primary_key and f.name not in self.COUNTERS]
        super().save(*args, **kwargs)


def random_queue_key() -> int:
    """A random position for the "random" queue order (uniform over a 31-bit range).

    A position, not a secret: `random` (reseeded in every forked worker) instead of `secrets`,
    whose system call per value cost an import 2 µs an item (0.6 µs now)."""
    return random.randrange(2**31 - 1)  # noqa: S311


class Project(KeepsCounters, models.Model):
    COUNTERS = ("item_count", "judgment_count")

    class QueueOrder(models.TextChoices):
        OLDEST = "oldest", "Oldest first"
        RANDOM = "random", "Random"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    rubric_version = models.ForeignKey(
        "rubrics.RubricVersion", null=True, blank=True, on_delete=models.PROTECT,
        related_name="projects", help_text="A published version; judgments record it forever.",
    )
    overlap = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="Exactly this many human judgments per item.",
    )
    guidelines = models.TextField(blank=True, help_text="Markdown.")
    rationale_required = models.BooleanField(default=False)
    randomize_order = models.BooleanField(default=True)
    hide_model_identities = models.BooleanField(default=True)
    show_model_scores = models.BooleanField(
        default=False, help_text="Show reward-model scores to annotators while they annotate."
    )
    queue_order = models.CharField(max_length=16, choices=QueueOrder.choices, default=QueueOrder.OLDEST)
    lease_minutes = models.PositiveIntegerField(
        default=default_lease_minutes, validators=[MinValueValidator(1), MaxValueValidator(24 * 60)]
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Counters kept by database triggers in the same transaction as the rows they count
    # (migrations 0005, 0008): the items of the project and Σ item.submitted_count. Progress bars read
    # them, so no page an annotator sees aggregates over the project's items.
    item_count = models.PositiveIntegerField(default=0, editable=False)
    judgment_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(overlap__gte=1), name="project_overlap_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class ProjectMembership(KeepsCounters, models.Model):
    COUNTERS = ("judged_count", "skipped_count", "walked_to")

    class Role(models.TextChoices):
        ANNOTATOR = "annotator", "Annotator"
        REVIEWER = "reviewer", "Reviewer"
        ADMIN = "admin", "Admin"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    # The member's submitted and skipped assignments in the project, kept by database triggers on
    # the assignment table (migrations 0005, 0008); set from the assignments when the membership is created.
    judged_count = models.PositiveIntegerField(default=0, editable=False)
    skipped_count = models.PositiveIntegerField(default=0, editable=False)
    # PostgreSQL, oldest-first queue: every open item of the project with a smaller id is one the
    # member judged or skipped, so their next-item pick starts here instead of stepping again over
    # every item they did that still waits for other annotators (annotator/services/queue.py).
    # Advanced by the pick; lowered by database triggers when an item below it reopens, is added, or
    # stops being done by the member (migration 0010). 0: from the start.
    walked_to = models.BigIntegerField(default=0, db_default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "user"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"


class Item(models.Model):
    # No separate index: the unique (project, external_id) index serves lookups by project.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items", db_index=False)
    external_id = models.CharField(max_length=255)
    prompt = models.JSONField(help_text='Chat messages: [{"role": "user", "content": "..."}, ...]')
    metadata = models.JSONField(default=dict, blank=True)
    # sha256 of the imported content, so a re-import can tell unchanged from updated.
    content_hash = models.CharField(max_length=64, blank=True)
    # Denormalised count of submitted judgments, kept by the judgment services; the queue reads it.
    submitted_count = models.PositiveIntegerField(default=0)
    # submitted_count < project.overlap, kept by the same services (and by project_update when the
    # overlap changes). A partial index on it keeps "next item" fast however many items are done.
    is_open = models.BooleanField(default=True)
    # Fixed random position for the "random" queue order: a lookup from a random pivot on an index
    # instead of ORDER BY random() over the whole project.
    queue_key = models.IntegerField(default=random_queue_key)
    # Review: set by the judgment services from the item's judgments (winner differs, strength
    # spread >= 3, criterion scores differ); `disagreement` lists the reasons.
    has_disagreement = models.BooleanField(default=False)
    disagreement = models.JSONField(default=list, blank=True)
    is_gold = models.BooleanField(default=False)
    gold_preference = models.SmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(-3), MaxValueValidator(3)]
    )
    gold_both_bad = models.BooleanField(default=False)
    # Gold for items with more than two responses: response ids, best first (the top one counts).
    gold_ranking = models.JSONField(default=list, blank=True)
    # The prompt's turns as sanitised HTML (one per turn, in order) and the responses' `content_html`,
    # rendered after import by a worker (services/markup.py), valid while `markup_version` equals
    # config.markup.RENDERER_VERSION; 0: not rendered yet (the page renders them itself).
    prompt_html = models.JSONField(default=list, blank=True)
    markup_version = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "external_id"], name="item_unique_external_id"),
            models.CheckConstraint(
                condition=Q(gold_preference__isnull=True)
                | (Q(gold_preference__gte=-3) & Q(gold_preference__lte=3)),
                name="item_gold_preference_range",
            ),
        ]
        indexes = [
            # The queue, oldest first: open items of a project in id order (services/queue.py).
            models.Index(fields=["project", "id"], name="item_queue_open", condition=Q(is_open=True)),
            # The queue, random order: open items from a random queue_key onwards (services/queue.py).
            models.Index(fields=["project", "queue_key"], name="item_queue_random", condition=Q(is_open=True)),
            # The review list: disagreeing items of a project (selectors.item_page with REVIEW_FILTERS).
            models.Index(fields=["project", "id"], name="item_disagreement",
                         condition=Q(has_disagreement=True)),
            # Items whose markup is still to render (services/markup.py): empty once a worker caught up.
            models.Index(fields=["project", "id"], name="item_markup_todo", condition=Q(markup_version=0)),
        ]

    def __str__(self) -> str:
        return f"{self.project_id}/{self.external_id}"

    @property
    def short_name(self) -> str:
        """For an item imported without an id (its id is a content hash): the first words of its
        prompt, shown beside the hash on item and review pages. "" for items with their own id."""
        from .formats import GENERATED_ID_PREFIX, prompt_short_name

        if not self.external_id.startswith(GENERATED_ID_PREFIX):
            return ""
        return prompt_short_name(self.prompt)


class Response(models.Model):
    # No separate index: the unique (item, external_id) index serves lookups by item.
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="responses", db_index=False)
    external_id = models.CharField(max_length=255)
    model_name = models.CharField(max_length=255, blank=True)
    content = models.TextField()
    # `content` as sanitised HTML; valid while the item's markup_version is current (see Item).
    content_html = models.TextField(blank=True, default="")
    position = models.PositiveSmallIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["item", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "external_id"], name="response_unique_external_id"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id}/{self.external_id}"


class Assignment(models.Model):
    class Status(models.TextChoices):
        LEASED = "leased", "Leased"
        SUBMITTED = "submitted", "Submitted"
        SKIPPED = "skipped", "Skipped"
        EXPIRED = "expired", "Expired"

    # The annotator is done with the item (judged or skipped): the queue never offers it to them again.
    DONE = (Status.SUBMITTED, Status.SKIPPED)

    # No separate index on item: the unique (item, annotator) index serves lookups by item.
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments", db_index=False)
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.LEASED)
    leased_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField()
    # Response ids in the order they were shown (A, B, …).
    shown_order = models.JSONField(default=list)
    submitted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-leased_at"]
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="assignment_unique_annotator"),
        ]
        indexes = [
            # Live leases per item (the queue's "fewer than N live leases" test).
            models.Index(fields=["item", "lease_expires_at"], name="assignment_live_lease",
                         condition=Q(status="leased")),
            models.Index(fields=["annotator", "status"], name="assignment_annotator_status"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id} → {self.annotator_id} ({self.status})"


class Judgment(models.Model):
    """A human judgment of one item. Unique per (item, annotator)."""

    assignment = models.OneToOneField(Assignment, on_delete=models.PROTECT, related_name="judgment")
    # No separate index: the unique (item, annotator) index serves lookups by item.
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="judgments", db_index=False)
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="judgments"
    )
    rubric_version = models.ForeignKey(
        "rubrics.RubricVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="judgments"
    )
    preference = models.SmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(-3), MaxValueValidator(3)],
        help_text="−3..3; negative = first response (by position) better; 0 = tie.",
    )
    both_bad = models.BooleanField(default=False)
    # For items with more than two responses: response ids, best first.
    ranking = models.JSONField(default=list, blank=True)
    rationale = models.TextField(blank=True)
    time_spent_ms = models.PositiveIntegerField(default=0)
    submitted_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["item", "submitted_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="judgment_unique_annotator"),
            models.CheckConstraint(
                condition=Q(preference__isnull=True) | (Q(preference__gte=-3) & Q(preference__lte=3)),
                name="judgment_preference_range",
            ),
        ]
        indexes = [
            models.Index(fields=["item", "submitted_at"], name="judgment_item_time"),
            # "Undo my last submission" and "my judgments in this project", newest first.
            models.Index(fields=["annotator", "-submitted_at"], name="judgment_annotator_time"),
        ]

    def __str__(self) -> str:
        return f"judgment {self.pk} of {self.item_id} by {self.annotator_id}"


class CriterionJudgment(models.Model):
    """A human's score of one response against one criterion, within a judgment."""

    # No separate index: the unique (judgment, response, criterion) index serves lookups by judgment.
    judgment = models.ForeignKey(Judgment, on_delete=models.CASCADE, related_name="criterion_scores", db_index=False)
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="human_criterion_scores")
    criterion = models.ForeignKey("rubrics.Criterion", on_delete=models.PROTECT, related_name="+")
    # binary: 0/1; likert5: 1..5; points: the points awarded.
    value = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["judgment", "response", "criterion"], name="criterionjudgment_unique"
            ),
        ]


class Adjudication(models.Model):
    """A reviewer's final label for an item whose judgments disagree."""

    item = models.OneToOneField(Item, on_delete=models.CASCADE, related_name="adjudication")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    preference = models.SmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(-3), MaxValueValidator(3)]
    )
    both_bad = models.BooleanField(default=False)
    ranking = models.JSONField(default=list, blank=True)
    rationale = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(preference__isnull=True) | (Q(preference__gte=-3) & Q(preference__lte=3)),
                name="adjudication_preference_range",
            ),
        ]

    def __str__(self) -> str:
        return f"adjudication of {self.item_id}"
