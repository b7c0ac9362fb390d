"""Rubric sets and their immutable versions.

A published (or archived) version never changes again: besides the services, database triggers
(migration 0002) reject UPDATE/DELETE of a published version's content and any write to its
criteria, on PostgreSQL and on SQLite alike.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class RubricSet(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RubricVersion(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        ARCHIVED = "archived", "Archived"

    rubric_set = models.ForeignKey(RubricSet, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    notes = models.TextField(blank=True, help_text="What changed in this version.")
    # sha256 of the canonical JSON of the version's content; set when published.
    content_hash = models.CharField(max_length=64, blank=True)
    based_on = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Optimistic concurrency for the draft editor: every edit bumps it; a save that carries an
    # older revision is a conflict.
    revision = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["rubric_set", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["rubric_set", "number"], name="rubricversion_unique_number"),
            models.CheckConstraint(
                condition=Q(status="draft") | (~Q(content_hash="") & Q(published_at__isnull=False)),
                name="rubricversion_frozen_has_hash",
            ),
            # One open draft per set: two parallel drafts would fork the set's history and make
            # "edit the published version" ambiguous. Publish or discard the draft first.
            models.UniqueConstraint(
                fields=["rubric_set"], condition=Q(status="draft"), name="rubricversion_one_draft_per_set"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rubric_set.name} v{self.number} ({self.status})"

    @property
    def is_frozen(self) -> bool:
        return self.status != self.Status.DRAFT


class Criterion(models.Model):
    class Kind(models.TextChoices):
        HARD_RULE = "hard_rule", "Hard rule"
        PRINCIPLE = "principle", "Principle"

    class Importance(models.TextChoices):
        ESSENTIAL = "essential", "Essential"
        IMPORTANT = "important", "Important"
        OPTIONAL = "optional", "Optional"
        PITFALL = "pitfall", "Pitfall"

    class Scale(models.TextChoices):
        BINARY = "binary", "Met / not met"
        LIKERT5 = "likert5", "Likert 1–5"
        POINTS = "points", "Points"

    version = models.ForeignKey(RubricVersion, on_delete=models.CASCADE, related_name="criteria")
    key = models.SlugField(max_length=100, help_text="Stable across versions; lines criteria up.")
    title = models.CharField(max_length=300)
    guidance = models.TextField(blank=True, help_text="Markdown.")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PRINCIPLE)
    importance = models.CharField(max_length=16, choices=Importance.choices, default=Importance.IMPORTANT)
    points = models.FloatField(
        default=1, validators=[MinValueValidator(-100), MaxValueValidator(100)],
        help_text="Signed: negative for undesirable behaviour (HealthBench).",
    )
    scale = models.CharField(max_length=16, choices=Scale.choices, default=Scale.BINARY)
    position = models.PositiveIntegerField(default=0)
    tags = models.JSONField(default=list, blank=True)
    # Optimistic concurrency per criterion in the draft editor: every edit of this criterion bumps
    # it, so two admins editing different criteria never conflict, and the same one always does.
    # Not content: it is left out of the content hash (criteria of frozen versions cannot change).
    revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["version", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="criterion_unique_key"),
            models.CheckConstraint(
                condition=Q(points__gte=-100) & Q(points__lte=100), name="criterion_points_bounds"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.title}"

    @property
    def magnitude(self) -> float:
        """|points|: the most a "points"-scale criterion awards (or takes away, for a pitfall)."""
        return abs(self.points)


class RubricEvent(models.Model):
    """History of a rubric set: who created, edited, published, archived what and when."""

    class Action(models.TextChoices):
        SET_CREATED = "set_created", "Created the set"
        DRAFT_CREATED = "draft_created", "Created a draft"
        EDITED = "edited", "Edited"
        PUBLISHED = "published", "Published"
        ARCHIVED = "archived", "Archived"
        UNARCHIVED = "unarchived", "Unarchived"
        IMPORTED = "imported", "Imported"
        DISCARDED = "discarded", "Discarded a draft"
        SET_EDITED = "set_edited", "Edited the set"

    rubric_set = models.ForeignKey(RubricSet, on_delete=models.CASCADE, related_name="events")
    version = models.ForeignKey(
        RubricVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=32, choices=Action.choices)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["rubric_set", "-created_at"], name="rubricevent_set_time")]
