"""Incremental exports (issue 14, #3): an increment lists every item changed since the cursor, those that
no longer have rows as tombstones, and answers with the cursor for the next one. Applying the
increments in order to the first full export gives the full export of now, in every format."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from annotator.models import Item, Judgment, ProjectMembership
from annotator.services import adjudication_clear, adjudication_set, judgment_undo
from exports import rows as export_rows_module
from tests.factories import ItemFactory, MembershipFactory, UserFactory
from tests.helpers import T0, make_judgment

pytestmark = pytest.mark.django_db
FORMATS = ("trl", "helpsteer2", "judgments", "rubric_scores")


def export(client, project, **params):
    """(rows, cursor) of a JSON Lines export through the API."""
    response = client.get(f"/api/v1/projects/{project.id}/export", params)
    assert response.status_code == 200, response
    body = b"".join(response.streaming_content).decode()
    return [json.loads(line) for line in body.splitlines()], response["X-Export-Cursor"]


def by_item(rows) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in rows:
        out.setdefault(row["item_id"], []).append(row)
    return out


def merge(state: dict[str, list[dict]], increment: list[dict]) -> dict[str, list[dict]]:
    """The documented merge: each item named in the increment gets exactly its rows there (none for a
    tombstone); every other item keeps what it had."""
    state = dict(state)
    for item_id, rows in by_item(increment).items():
        kept = [{k: v for k, v in row.items() if k != "deleted"} for row in rows if not row["deleted"]]
        if kept:
            state[item_id] = kept
        else:
            state.pop(item_id, None)
    return state


@pytest.fixture
def world(project, project_admin, annotator, client_for, monkeypatch):
    """Items judged long ago (stamped T0), and one judged just now by `undoer` (to be undone)."""
    monkeypatch.setattr(export_rows_module, "CURSOR_OVERLAP", timedelta(0))  # only what happens after it
    other, undoer = UserFactory(username="other"), UserFactory(username="undoer")
    for user in (other, undoer):
        MembershipFactory(project=project, user=user, role=ProjectMembership.Role.ANNOTATOR)
    criterion = project.rubric_version.criteria.order_by("position").first()
    items = {}
    for key in ("keep", "bad", "undo", "fresh", "tie-later", "agree"):
        items[key] = ItemFactory(project=project, external_id=key, responses=[f"{key} A", f"{key} B"])
    for key, prefs in {"keep": (-2, -3), "bad": (-2, -1), "tie-later": (-1,), "agree": (1, 2)}.items():
        first = items[key].responses.order_by("position").first()
        for user, preference in zip((annotator, other), prefs, strict=False):
            make_judgment(items[key], user, preference=preference, at=T0, scores={(first, criterion): 1})
    make_judgment(items["undo"], undoer, preference=-3, at=timezone.now())
    Item.objects.filter(project=project).update(updated_at=T0)
    Judgment.objects.filter(item__project=project).update(updated_at=T0)
    return {"items": items, "client": client_for(project_admin), "other": other, "undoer": undoer,
            "annotator": annotator, "reviewer": project_admin}


def test_applying_the_increments_in_order_gives_the_full_export(project, world):
    client, items = world["client"], world["items"]
    state, cursors = {}, {}
    for fmt in FORMATS:
        rows, cursors[fmt] = export(client, project, format=fmt)
        state[fmt] = by_item(rows)

    def step():
        for fmt in FORMATS:
            increment, cursor = export(client, project, format=fmt, submitted_after=cursors[fmt])
            assert cursor > cursors[fmt], "each answer hands out a later cursor"
            state[fmt], cursors[fmt] = merge(state[fmt], increment), cursor
            full, _ = export(client, project, format=fmt)
            assert state[fmt] == by_item(full), fmt
        return increment  # rubric_scores'

    # 1: a reviewer finds both responses bad, an annotator undoes, two new judgments.
    adjudication_set(item=items["bad"], reviewer=world["reviewer"], preference=None, both_bad=True)
    judgment_undo(project=project, user=world["undoer"])
    make_judgment(items["fresh"], world["annotator"], preference=2, at=timezone.now())
    make_judgment(items["tie-later"], world["other"], preference=1, at=timezone.now())
    step()
    # 2: the adjudication is cleared: the item is a pair again.
    adjudication_clear(item=items["bad"])
    last = step()
    assert set(by_item(last)) == {"bad"}, "unchanged items are not sent again"


def test_an_item_that_no_longer_qualifies_is_a_tombstone(project, world):
    client, items = world["client"], world["items"]
    _, cursor = export(client, project, format="trl")
    adjudication_set(item=items["bad"], reviewer=world["reviewer"], preference=None, both_bad=True)
    judgment_undo(project=project, user=world["undoer"])
    rows, _ = export(client, project, format="trl", submitted_after=cursor)
    assert {"item_id": "bad", "deleted": True} in rows
    assert {"item_id": "undo", "deleted": True} in rows
    assert all(set(r) == {"item_id", "deleted"} for r in rows if r["deleted"])
    # The increment's rows say deleted: false; a full export has no such column.
    rows, _ = export(client, project, format="trl")
    assert "deleted" not in rows[0]


def test_a_filter_that_an_item_falls_out_of_is_a_tombstone_too(project, world):
    client, items = world["client"], world["items"]
    _, cursor = export(client, project, format="trl", min_agreement="1")
    make_judgment(items["keep"], world["undoer"], preference=-1, at=timezone.now())  # still agrees
    make_judgment(items["agree"], world["undoer"], preference=-1, at=timezone.now())  # now disagrees
    rows, _ = export(client, project, format="trl", min_agreement="1", submitted_after=cursor)
    assert {r["item_id"]: r["deleted"] for r in rows} == {"keep": False, "agree": True}


def test_csv_tombstones_have_the_item_id_and_deleted_true_and_nothing_else(project, world):
    client, items = world["client"], world["items"]
    _, cursor = export(client, project, format="helpsteer2")
    adjudication_set(item=items["bad"], reviewer=world["reviewer"], preference=None, both_bad=True)
    response = client.get(f"/api/v1/projects/{project.id}/export",
                          {"format": "helpsteer2", "as": "csv", "submitted_after": cursor})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["deleted"] for r in rows] == ["true"]
    assert {k: v for k, v in rows[0].items() if v} == {"item_id": "bad", "deleted": "true"}


def test_the_count_of_an_increment_counts_its_tombstones(project, world):
    client, items = world["client"], world["items"]
    _, cursor = export(client, project, format="judgments")
    judgment_undo(project=project, user=world["undoer"])
    make_judgment(items["fresh"], world["annotator"], preference=2, at=timezone.now())
    rows, _ = export(client, project, format="judgments", submitted_after=cursor)
    assert sorted((r["item_id"], r["deleted"]) for r in rows) == [("fresh", False), ("undo", True)]
    count = client.get(f"/api/v1/projects/{project.id}/export/count",
                       {"format": "judgments", "submitted_after": cursor}).json()
    assert count["rows"] == 2


def test_the_cursor_lies_the_overlap_before_the_export(project, world, monkeypatch):
    monkeypatch.setattr(export_rows_module, "CURSOR_OVERLAP", timedelta(minutes=2))
    before = timezone.now()
    _, cursor = export(world["client"], project, format="trl")
    assert cursor.endswith("Z") and len(cursor) == len("2025-03-01T12:00:00.000000Z")
    parsed = timezone.datetime.fromisoformat(cursor)
    assert before - timedelta(minutes=2) <= parsed <= timezone.now() - timedelta(minutes=2)


def test_an_export_job_names_the_cursor_of_its_file(project, world):
    response = world["client"].get(f"/api/v1/projects/{project.id}/export", {"format": "trl", "as": "parquet"})
    job = response.json()
    assert job["cursor"].endswith("Z")


def test_a_parquet_increment_has_tombstones_too(project, world, tmp_path):
    import pyarrow.parquet as pq

    from exports.params import export_params_parse
    from exports.writers import export_write_parquet

    _, cursor = export(world["client"], project, format="trl")
    adjudication_set(item=world["items"]["bad"], reviewer=world["reviewer"], preference=None, both_bad=True)
    path = tmp_path / "increment.parquet"
    params = export_params_parse({"format": "trl", "submitted_after": cursor})
    assert export_write_parquet(project=project, params=params, path=path) == 1
    (row,) = pq.read_table(path).to_pylist()
    assert {k: v for k, v in row.items() if v is not None} == {"item_id": "bad", "deleted": True}
