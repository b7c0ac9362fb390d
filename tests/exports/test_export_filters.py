"""Export filters and the tie policy on the known-answer project; counts always equal the rows."""

import json
from datetime import timedelta

import pytest

from config.errors import ApplicationError
from exports.labels import item_label
from exports.params import ExportParams, export_params_parse
from exports.rows import export_count, export_rows
from tests.helpers import T0, make_judgment

pytestmark = pytest.mark.django_db


def items_of(client, project, **params):
    response = client.get(f"/api/v1/projects/{project.id}/export", params)
    assert response.status_code == 200
    rows = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    count = client.get(f"/api/v1/projects/{project.id}/export/count", params).json()
    assert count == {"format": params["format"], "rows": len(rows)}, "the count must match the export"
    return rows


def ids(rows) -> list[str]:
    return [r["item_id"] for r in rows]


@pytest.fixture
def admin(client_for, labeled):
    return client_for(labeled.admin)


def test_ties_are_dropped_by_default(admin, labeled):
    assert "tie" not in ids(items_of(admin, labeled.project, format="trl"))
    assert "split" not in ids(items_of(admin, labeled.project, format="trl"))


def test_kept_ties_have_margin_zero_with_response_1_as_chosen(admin, labeled):
    rows = {r["item_id"]: r for r in items_of(admin, labeled.project, format="trl", tie_policy="keep")}
    for key in ("tie", "split"):
        assert rows[key]["margin"] == 0
        assert rows[key]["chosen"][0]["content"] == f"{key} A"
        assert rows[key]["rejected"][0]["content"] == f"{key} B"
    assert "both-bad" not in rows, "both-bad items never become preference pairs"


def test_kept_ties_are_strength_zero_in_helpsteer2(admin, labeled):
    rows = {r["item_id"]: r for r in items_of(admin, labeled.project, format="helpsteer2", tie_policy="keep")}
    assert rows["tie"]["preference_strength"] == 0
    assert rows["tie"]["justification"] == "Same."
    assert rows["split"]["preference_strength"] == 0


def test_min_judgments_leaves_out_items_with_fewer(admin, labeled):
    rows = items_of(admin, labeled.project, format="trl", min_judgments=2)
    assert "single" not in ids(rows) and "old-rubric" not in ids(rows)
    assert ids(items_of(admin, labeled.project, format="trl", min_judgments=3)) == []


def test_min_agreement_keeps_items_whose_judges_agree(admin, labeled):
    rows = items_of(admin, labeled.project, format="trl", min_agreement="1")
    assert ids(rows) == ["agree-first", "agree-second", "ranked"]
    # Zero keeps disagreeing items but still needs two judgments to measure agreement at all.
    assert "adjudicated" in ids(items_of(admin, labeled.project, format="trl", min_agreement="0"))
    assert "single" not in ids(items_of(admin, labeled.project, format="trl", min_agreement="0"))


def test_the_rubric_version_filter_counts_only_that_versions_judgments(admin, labeled):
    rows = items_of(admin, labeled.project, format="trl", rubric_version=labeled.version.id)
    assert "old-rubric" not in ids(rows) and "agree-first" in ids(rows)
    rows = items_of(admin, labeled.project, format="judgments", rubric_version=labeled.other_version.id)
    assert ids(rows) == ["old-rubric"]


def test_a_rubric_version_the_project_never_used_is_a_field_error(admin, labeled):
    from tests.factories import published_version

    unused = published_version(criteria=1)
    response = admin.get(f"/api/v1/projects/{labeled.project.id}/export", {"format": "trl",
                                                                           "rubric_version": unused.id})
    assert response.status_code == 400
    assert response.json()["fields"] == {"rubric_version": "this project has no judgments with that rubric version"}


def settle(labeled):
    """The known-answer items as if last changed at T0 (their stamps are the time the test built them)."""
    from annotator.models import Item, Judgment

    Item.objects.filter(project=labeled.project).update(updated_at=T0)
    Judgment.objects.filter(item__project=labeled.project).update(updated_at=T0)


def test_submitted_after_exports_every_judgment_of_the_items_changed_since(admin, labeled):
    settle(labeled)
    after = (T0 + timedelta(hours=5, minutes=30)).isoformat()
    rows = items_of(admin, labeled.project, format="judgments", submitted_after=after)
    assert ids(rows) == ["single", "ranked", "ranked", "old-rubric"]
    assert {r["deleted"] for r in rows} == {False}


def test_submitted_after_re_exports_whole_items_that_changed(admin, labeled):
    settle(labeled)
    make_judgment(labeled.items["agree-second"], labeled.reviewer, preference=3, at=T0 + timedelta(days=2))
    rows = items_of(admin, labeled.project, format="trl", submitted_after=(T0 + timedelta(days=1)).isoformat())
    assert ids(rows) == ["agree-second"]
    assert rows[0]["n_judgments"] == 3  # aggregated over all its judgments, not only the new one
    assert rows[0]["margin"] == pytest.approx(2.0)


def test_submitted_after_accepts_a_plain_date(admin, labeled):
    assert ids(items_of(admin, labeled.project, format="judgments", submitted_after="2030-01-01")) == []


def test_an_adjudication_after_the_cut_off_re_exports_the_item(admin, labeled):
    from annotator.models import Adjudication

    settle(labeled)
    Adjudication.objects.filter(item=labeled.items["adjudicated"]).update(updated_at=T0 + timedelta(days=3))
    rows = items_of(admin, labeled.project, format="trl", submitted_after=(T0 + timedelta(days=1)).isoformat())
    assert ids(rows) == ["adjudicated"]


def test_rubric_scores_respect_the_item_filters(admin, labeled):
    assert len(items_of(admin, labeled.project, format="rubric_scores", min_agreement="1")) == 12
    assert items_of(admin, labeled.project, format="rubric_scores", min_judgments=3) == []


def test_min_judgments_zero_exports_model_criterion_scores_of_unjudged_items(admin, labeled):
    from scoring.models import CriterionScore

    response = labeled.items["unjudged"].responses.first()
    CriterionScore.objects.create(response=response, criterion=labeled.version.criteria.first(), scorer=labeled.judge,
                                  met=False, explanation="Misses it.")
    rows = items_of(admin, labeled.project, format="rubric_scores", include_model_scores="true", min_judgments=0)
    assert [r["item_id"] for r in rows if r["judge_type"] == "model"] == ["agree-first", "unjudged"]
    rows = items_of(admin, labeled.project, format="rubric_scores", include_model_scores="true")
    assert "unjudged" not in ids(rows)


@pytest.mark.parametrize("params, field", [
    ({"format": "xml"}, "format"),
    ({}, "format"),
    ({"format": "trl", "min_judgments": "-1"}, "min_judgments"),
    ({"format": "trl", "min_judgments": "two"}, "min_judgments"),
    ({"format": "trl", "min_agreement": "1.5"}, "min_agreement"),
    ({"format": "trl", "min_agreement": "nan"}, "min_agreement"),
    ({"format": "trl", "tie_policy": "flip"}, "tie_policy"),
    ({"format": "trl", "include_model_scores": "maybe"}, "include_model_scores"),
    ({"format": "trl", "submitted_after": "yesterday"}, "submitted_after"),
    ({"format": "trl", "rubric_version": "0"}, "rubric_version"),
    ({"format": "trl", "as": "xlsx"}, "as"),
])
def test_bad_parameters_are_400_with_the_field_named(admin, labeled, params, field):
    response = admin.get(f"/api/v1/projects/{labeled.project.id}/export", params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid" and field in body["fields"] and body["message"]


def test_parsed_parameters_round_trip_through_the_query_string(labeled):
    params = export_params_parse({"format": "trl", "rubric_version": str(labeled.version.id), "min_judgments": "2",
                                  "min_agreement": "0.5", "tie_policy": "keep", "include_model_scores": "on",
                                  "submitted_after": "2025-03-01T12:00:00Z"}, project=labeled.project)
    assert export_params_parse(params.as_query(), project=labeled.project) == params


def test_a_naive_date_time_is_read_as_utc():
    params = export_params_parse({"format": "trl", "submitted_after": "2025-03-01T12:00"})
    assert params.submitted_after == T0


def test_count_needs_no_text_and_matches_rows_in_every_format(labeled):
    for fmt in ("trl", "helpsteer2", "rubric_scores", "judgments"):
        for extra in ({}, {"min_agreement": 0.5}, {"tie_policy": "keep", "min_judgments": 2}):
            params = ExportParams(export_format=fmt, **extra)
            rows = list(export_rows(project=labeled.project, params=params))
            assert export_count(project=labeled.project, params=params) == len(rows), (fmt, extra)


def test_both_bad_majority_wins_over_preferences():
    from exports.labels import JudgmentRow

    rows = [JudgmentRow(1, "a", None, None, True, []), JudgmentRow(2, "b", None, None, True, []),
            JudgmentRow(3, "c", None, -3, False, [])]
    label = item_label(judgments=rows, adjudication=None, positions={10: 0, 11: 1})
    assert label.both_bad and not label.decided
    rows.append(JudgmentRow(4, "d", None, -2, False, []))
    label = item_label(judgments=rows, adjudication=None, positions={10: 0, 11: 1})
    assert not label.both_bad and label.chosen == 0 and label.margin == pytest.approx(2.5)


def test_a_small_mean_still_gives_a_nonzero_helpsteer2_strength():
    from exports.labels import JudgmentRow

    rows = [JudgmentRow(i, str(i), None, p, False, []) for i, p in enumerate([-1, 0, 0, 0])]
    label = item_label(judgments=rows, adjudication=None, positions={10: 0, 11: 1})
    assert label.chosen == 0 and label.margin == pytest.approx(0.25) and label.strength == -1


def test_an_adjudicated_both_bad_item_is_left_out(admin, labeled):
    from annotator.models import Adjudication

    Adjudication.objects.filter(item=labeled.items["adjudicated"]).update(both_bad=True, preference=None)
    assert "adjudicated" not in ids(items_of(admin, labeled.project, format="trl"))


def test_export_params_reject_an_unknown_format_in_python_too():
    with pytest.raises(ApplicationError) as info:
        export_params_parse({"format": "parquet"})
    assert "format" in info.value.fields


@pytest.mark.parametrize("path", ["export", "export/count"])
def test_unknown_parameters_are_400_naming_them(admin, labeled, path):
    response = admin.get(f"/api/v1/projects/{labeled.project.id}/{path}",
                         {"format": "trl", "min_agreemnt": "0.9", "tie": "keep"})
    assert response.status_code == 400
    body = response.json()
    assert body["fields"] == {"min_agreemnt": "unknown parameter", "tie": "unknown parameter"}
    assert "min_agreemnt" in body["message"] and "min_agreement" in body["message"]


def test_the_export_page_and_the_command_refuse_unknown_parameters_too(client_for, labeled):
    from django.core.management import CommandError, call_command

    client = client_for(labeled.admin)
    response = client.get(f"/projects/{labeled.project.id}/export/download", {"format": "trl", "min_agreemnt": "1"})
    assert response.status_code == 400 and "min_agreemnt" in response.content.decode()
    with pytest.raises(ApplicationError) as info:
        export_params_parse({"format": "trl", "submited_after": "2025-01-01"})
    assert info.value.fields == {"submited_after": "unknown parameter"}
    with pytest.raises(CommandError):  # argparse knows its options: a misspelt one never gets through
        call_command("export", str(labeled.project.id), "--format", "trl", "--min-agreemnt", "1")


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_a_time_out_of_range_in_utc_is_400_naming_the_field(admin, labeled, value):
    response = admin.get(f"/api/v1/projects/{labeled.project.id}/export", {"format": "trl", "submitted_after": value})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"submitted_after"}
