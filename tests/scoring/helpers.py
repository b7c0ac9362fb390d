"""Data helpers for the scoring tests."""

from datetime import timedelta

from django.utils import timezone

from annotator.models import Assignment, Judgment
from tests.factories import ItemFactory, UserFactory


def make_items(project, n: int, *, contents=None) -> list:
    """n items with two responses each (contents vary in length)."""
    items = []
    start = project.items.count()
    for i in range(start, start + n):
        pair = (contents[i - start] if contents else
                [f"Short answer {i}.", f"A longer answer number {i}, " + "with detail " * (i % 5 + 1)])
        items.append(ItemFactory(project=project, external_id=f"it-{project.pk}-{i}",
                                 prompt=[{"role": "user", "content": f"Question {i}?"}], responses=pair))
    return items


def judge_item(item, *, preference: int, annotator=None):
    """A submitted human judgment (preference −3..3: negative = the first response is better)."""
    annotator = annotator or UserFactory()
    now = timezone.now()
    assignment = Assignment.objects.create(
        item=item, annotator=annotator, status=Assignment.Status.SUBMITTED, leased_at=now,
        lease_expires_at=now + timedelta(minutes=30), submitted_at=now,
        shown_order=list(item.responses.values_list("id", flat=True)),
    )
    return Judgment.objects.create(assignment=assignment, item=item, annotator=annotator,
                                   rubric_version=item.project.rubric_version, preference=preference,
                                   submitted_at=now)
