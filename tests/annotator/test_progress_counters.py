"""Progress counters kept by the database in the same transaction as what they count."""

import json

import pytest
from django.db.models import Count, Q, Sum

from annotator.models import Assignment, Item, Project, ProjectMembership
from annotator.services import (
    assignment_next_for_user,
    assignment_skip,
    items_import_text,
    judgment_submit,
    judgment_undo,
    membership_set,
    project_update,
)
from tests.factories import ItemFactory
from tests.helpers import valid_input


def _recount(project: Project) -> tuple[int, int]:
    agg = Item.objects.filter(project=project).aggregate(n=Count("id"), s=Sum("submitted_count"))
    return agg["n"], agg["s"] or 0


def _member_recount(project: Project, user) -> tuple[int, int]:
    agg = Assignment.objects.filter(item__project=project, annotator=user).aggregate(
        j=Count("id", filter=Q(status="submitted")), s=Count("id", filter=Q(status="skipped")))
    return agg["j"], agg["s"]


def _counters(project, user):
    project.refresh_from_db()
    m = ProjectMembership.objects.get(project=project, user=user)
    return (project.item_count, project.judgment_count), (m.judged_count, m.skipped_count)


@pytest.mark.django_db
def test_submit_skip_and_undo_keep_the_counters_equal_to_a_recount(project, annotator, make_items):
    make_items(3)
    a = assignment_next_for_user(project=project, user=annotator)
    judgment_submit(assignment=a, data=valid_input(a))
    b = assignment_next_for_user(project=project, user=annotator)
    assignment_skip(assignment=b)
    assert _counters(project, annotator) == ((3, 1), (1, 1))
    judgment_undo(project=project, user=annotator)
    assert _counters(project, annotator) == ((3, 0), (0, 1))
    assert _counters(project, annotator) == (_recount(project), _member_recount(project, annotator))


@pytest.mark.django_db
def test_imports_and_deletes_count_items(project, annotator):
    pair = [{"content": "a"}, {"content": "b"}]
    lines = [json.dumps({"id": f"x{i}", "prompt": "Hi", "responses": pair}) for i in range(5)]
    items_import_text(project=project, text="\n".join(lines))
    ItemFactory(project=project)
    assert _counters(project, annotator)[0] == (6, 0)
    Item.objects.filter(project=project, external_id__in=["x0", "x1"]).delete()
    assert _counters(project, annotator)[0] == (4, 0) == _recount(project)


@pytest.mark.django_db
def test_a_member_added_later_starts_from_their_judgments_and_saves_never_clobber(project, annotator, make_items):
    make_items(2)
    a = assignment_next_for_user(project=project, user=annotator)
    stale = Project.objects.get(pk=project.pk)
    judgment_submit(assignment=a, data=valid_input(a))
    ProjectMembership.objects.filter(project=project, user=annotator).delete()
    membership_set(project=project, user=annotator, role="annotator")
    assert _counters(project, annotator)[1] == (1, 0)
    stale.name = "Renamed"
    stale.save()
    project_update(project=stale, overlap=3)
    assert _counters(project, annotator)[0] == (2, 1)
