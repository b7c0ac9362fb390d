"""JSON Lines written by the database (exports.rows.export_lines, judgments and trl on PostgreSQL) are
byte for byte the lines the row encoder writes from the rows (the path CSV and Parquet read): ties,
tombstones, increments, model scores, import metadata, and text that JSON must escape."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model

from annotator.models import Item, Judgment, Response
from exports.params import ExportParams
from exports.rows import export_columns, export_lines, export_rows
from exports.writers import jsonl_chunks, line_chunks
from tests.helpers import T0

pytestmark = pytest.mark.django_db
# Quotes, backslashes, every control character, DEL, non-ASCII, line and paragraph separators.
AWKWARD = 'say "hi" \\ back\n\t\r\b\f' + "".join(map(chr, range(1, 32))) + "\x7f é 漢字 😀 \u2028\u2029 </script>"

VARIANTS = [
    {},
    {"include_model_scores": True},
    {"tie_policy": "keep"},
    {"min_judgments": 2, "min_agreement": 0.5},
    {"rubric_version_id": "other"},
    # An increment: every item changed since T0 - 1 day; those that fail min_agreement are tombstones.
    {"submitted_after": T0 - timedelta(days=1), "min_agreement": 1.0, "tie_policy": "keep",
     "include_model_scores": True},
    {"submitted_after": T0 - timedelta(days=1)},
]


def generic(project, params) -> bytes:
    return b"".join(jsonl_chunks(export_columns(params), export_rows(project=project, params=params)))


def fast(project, params) -> bytes:
    lines = export_lines(project=project, params=params)
    assert lines is not None, "judgments and trl have lines written by the database"
    return b"".join(line_chunks(lines))


@pytest.fixture
def awkward(labeled):
    """The known answers, with text that JSON escapes everywhere a stream carries text."""
    item = labeled.items["agree-first"]
    Item.objects.filter(pk=item.pk).update(external_id="agree-" + AWKWARD,
                                           metadata={"subset": "sub " + AWKWARD, "note": AWKWARD})
    Response.objects.filter(item=item).update(content="answer " + AWKWARD, model_name="model " + AWKWARD)
    first = Response.objects.filter(item=labeled.items["agree-second"]).order_by("position").first()
    Response.objects.filter(pk=first.pk).update(external_id="resp \u00e9\"\\")
    Judgment.objects.filter(item=item).update(rationale="because " + AWKWARD)
    get_user_model().objects.filter(pk=labeled.annotator.pk).update(username="ann\u00e9\"")
    return labeled


@pytest.mark.parametrize("fmt", ["judgments", "trl"])
@pytest.mark.parametrize("variant", range(len(VARIANTS)))
def test_lines_written_by_the_database_equal_the_encoded_rows(awkward, fmt, variant):
    options = dict(VARIANTS[variant])
    if options.get("rubric_version_id") == "other":
        options["rubric_version_id"] = awkward.other_version.id
    params = ExportParams(export_format=fmt, **options)
    expected = generic(awkward.project, params)
    assert expected, "the variant has rows"
    assert fast(awkward.project, params) == expected


def test_the_awkward_text_reads_back_unchanged(awkward):
    rows = [json.loads(line) for line in fast(awkward.project, ExportParams(export_format="trl")).splitlines()]
    row = next(r for r in rows if r["item_id"] == "agree-" + AWKWARD)
    assert row["subset"] == "sub " + AWKWARD
    assert json.loads(row["metadata"])["note"] == AWKWARD
    assert row["chosen"] == [{"role": "assistant", "content": "answer " + AWKWARD}]
    judgments = [json.loads(line) for line in fast(awkward.project, ExportParams(export_format="judgments"))
                 .splitlines()]
    assert {j["rationale"] for j in judgments if j["item_id"] == "agree-" + AWKWARD} == {"because " + AWKWARD}


def test_an_increment_has_tombstones_and_deleted_false_on_its_rows(awkward):
    params = ExportParams(export_format="judgments", submitted_after=T0 - timedelta(days=1), min_agreement=1.0)
    rows = [json.loads(line) for line in fast(awkward.project, params).splitlines()]
    tombstones = [r for r in rows if r["deleted"]]
    assert tombstones and all(set(r) == {"item_id", "deleted"} for r in tombstones)
    assert all(list(r) == [name for name, _type in export_columns(params)] for r in rows if not r["deleted"])


def test_the_api_streams_the_database_written_lines_with_a_cursor(client_for, awkward):
    client = client_for(awkward.admin)
    for fmt in ("judgments", "trl"):
        response = client.get(f"/api/v1/projects/{awkward.project.id}/export",
                              {"format": fmt, "submitted_after": "2000-01-01", "tie_policy": "keep"})
        assert response["X-Export-Cursor"]
        params = ExportParams(export_format=fmt, submitted_after=T0.replace(year=2000, month=1, day=1, hour=0,
                                                                            minute=0, second=0, microsecond=0),
                              tie_policy="keep")
        assert b"".join(response.streaming_content) == generic(awkward.project, params)


def test_other_formats_have_no_database_written_lines(labeled):
    for fmt in ("helpsteer2", "rubric_scores"):
        assert export_lines(project=labeled.project, params=ExportParams(export_format=fmt)) is None
