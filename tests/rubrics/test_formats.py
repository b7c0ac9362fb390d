"""Parsing and converting rubric documents (no database): every accepted form, good and bad."""

import json
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from config.errors import ApplicationError
from rubrics import formats
from rubrics.services import rubric_content_hash

DEMO = Path(settings.BASE_DIR) / "rubrics" / "demo" / "rubric.json"


def convert(text, syntax="auto", form="auto"):
    return formats.document_convert(formats.document_parse(text, syntax=syntax), form=form)


def error_of(text, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        convert(text, **kwargs)
    return info.value


def native(criteria, **version):
    return {"schema": "rubricate.rubric/v1", "rubric_set": {"name": "Set", "slug": "set"},
            "version": {"notes": "", "criteria": criteria, **version}}


GOOD = {"key": "accurate", "title": "Accurate", "points": 5}


# --- native ----------------------------------------------------------------------------------

def test_the_demo_rubric_is_read_as_the_native_form():
    imported = convert(DEMO.read_text())
    assert imported.form == "rubricate"
    assert imported.rubric_set["slug"] == "general-assistant"
    assert [c["key"] for c in imported.criteria][:2] == ["follows_instructions", "factually_accurate"]
    assert imported.criteria[-1]["importance"] == "pitfall" and imported.criteria[-1]["points"] == -6


def test_native_yaml_is_read_like_json():
    doc = json.loads(DEMO.read_text())
    assert convert(yaml.safe_dump(doc)).criteria == convert(json.dumps(doc)).criteria


def test_missing_optional_fields_take_defaults():
    (c,) = convert(json.dumps(native([{"key": "k", "title": "T"}]))).criteria
    assert c == {"key": "k", "title": "T", "guidance": "", "kind": "principle", "importance": "important",
                 "points": 1, "scale": "binary", "tags": []}


def test_negative_points_default_to_a_pitfall():
    (c,) = convert(json.dumps(native([{"key": "k", "title": "T", "points": -3}]))).criteria
    assert c["importance"] == "pitfall"


@pytest.mark.parametrize(("criterion", "path", "message"), [
    ({**GOOD, "points": "3"}, "version.criteria[1].points", "must be a number"),
    ({**GOOD, "points": True}, "version.criteria[1].points", "must be a number"),
    ({**GOOD, "points": 0}, "version.criteria[1].points", "must not be 0"),
    ({**GOOD, "points": 101}, "version.criteria[1].points", "between -100 and 100"),
    ({**GOOD, "title": ""}, "version.criteria[1].title", "is required"),
    ({**GOOD, "title": "a\nb"}, "version.criteria[1].title", "single line"),
    ({**GOOD, "title": "x" * 301}, "version.criteria[1].title", "at most 300"),
    ({**GOOD, "key": "has space"}, "version.criteria[1].key", "letters, digits"),
    ({**GOOD, "kind": "rule"}, "version.criteria[1].kind", "must be one of hard_rule, principle"),
    ({**GOOD, "importance": "pitfall"}, "version.criteria[1].points", "a pitfall takes negative points"),
    ({**GOOD, "points": -2, "importance": "essential"}, "version.criteria[1].importance", "pitfall"),
    ({**GOOD, "scale": "likert7"}, "version.criteria[1].scale", "must be one of"),
    ({**GOOD, "tags": "a,b"}, "version.criteria[1].tags", "must be a list"),
    ({**GOOD, "tags": ["a", "a"]}, "version.criteria[1].tags[1]", "duplicate tag"),
    ({**GOOD, "tags": ["a", 3]}, "version.criteria[1].tags[1]", "must be a string"),
    ({**GOOD, "pionts": 3}, "version.criteria[1].pionts", "unknown field"),
    ({**GOOD, "key": "first"}, "version.criteria[1].key", 'duplicate key "first" (also version.criteria[0])'),
    ("just text", "version.criteria[1]", "must be an object"),
])
def test_a_bad_native_criterion_is_named_by_its_path(criterion, path, message):
    first = {"key": "first", "title": "First", "points": 2}
    exc = error_of(json.dumps(native([first, criterion])))
    assert path in exc.fields, exc.fields
    assert message in exc.fields[path]
    assert exc.message.startswith(f"{path}: ")


def test_every_error_is_reported_at_once():
    exc = error_of(json.dumps(native([{"key": "a", "title": "", "points": "x"}, {"title": "T"}])))
    assert set(exc.fields) >= {"version.criteria[0].title", "version.criteria[0].points", "version.criteria[1].key"}
    assert "(and 2 more)" in exc.message


@pytest.mark.parametrize(("document", "path"), [
    ({"schema": "rubricate.rubric/v2", "version": {"criteria": []}}, "schema"),
    ({"schema": "rubricate.rubric/v1"}, "version"),
    ({"schema": "rubricate.rubric/v1", "version": {"notes": ""}}, "version.criteria"),
    ({"schema": "rubricate.rubric/v1", "version": {"criteria": {}}}, "version.criteria"),
    ({"schema": "rubricate.rubric/v1", "version": {"criteria": [], "notez": ""}}, "version.notez"),
    ({"schema": "rubricate.rubric/v1", "rubric_set": {"name": "X", "slug": "Not A Slug"}, "version": {"criteria": []}},
     "rubric_set.slug"),
    ({"schema": "rubricate.rubric/v1", "rubric_set": {"name": "X", "slug": "import"}, "version": {"criteria": []}},
     "rubric_set.slug"),
])
def test_a_bad_native_envelope_is_named_by_its_path(document, path):
    assert path in error_of(json.dumps(document)).fields


# --- HealthBench -----------------------------------------------------------------------------

HEALTHBENCH = [
    {"criterion": "Advises the user to call emergency services immediately.", "points": 9,
     "tags": ["level:example", "axis:completeness"]},
    {"criterion": "Recommends a specific prescription dose without seeing a clinician.", "points": -7,
     "tags": ["level:example", "axis:accuracy"]},
    {"criterion": "Explains warning signs " + "in detail " * 40, "points": 2.5, "tags": []},
]


def test_a_healthbench_list_is_read():
    imported = convert(json.dumps(HEALTHBENCH))
    assert imported.form == "healthbench"
    first, second, third = imported.criteria
    assert first["key"] == "advises_the_user_to_call_emergency_services"
    assert first["title"] == HEALTHBENCH[0]["criterion"] and first["points"] == 9
    assert first["tags"] == ["level:example", "axis:completeness"]
    assert second["importance"] == "pitfall" and second["points"] == -7
    assert third["title"].endswith("…") and len(third["title"]) <= 300
    assert third["guidance"] == HEALTHBENCH[2]["criterion"].strip()
    assert third["points"] == 2.5


def test_a_healthbench_record_with_rubrics_is_read():
    record = {"prompt": "ignored", "rubrics": HEALTHBENCH[:1]}
    # Records carry more than rubrics: only the "rubrics" key is the rubric.
    imported = formats.document_convert({"rubrics": record["rubrics"]})
    assert imported.form == "healthbench" and len(imported.criteria) == 1


def test_healthbench_tags_given_as_an_object_become_name_value_tags():
    imported = convert(json.dumps([{"criterion": "Is correct.", "points": 5,
                                    "tags": {"verifier": "llm", "function": ""}}]))
    assert imported.criteria[0]["tags"] == ["verifier:llm"]


def test_repeated_healthbench_texts_get_distinct_keys():
    imported = convert(json.dumps([{"criterion": "Is kind.", "points": 1, "tags": []}] * 2 +
                                  [{"criterion": "Is kind!", "points": 1, "tags": []}]))
    assert [c["key"] for c in imported.criteria] == ["is_kind", "is_kind_2", "is_kind_3"]


@pytest.mark.parametrize(("item", "path", "message"), [
    ({"criterion": "x", "points": "5", "tags": []}, "[1].points", "must be a number"),
    ({"criterion": "x", "tags": []}, "[1].points", "is required"),
    ({"criterion": "", "points": 5, "tags": []}, "[1].criterion", "is required"),
    ({"criterion": 5, "points": 5, "tags": []}, "[1].criterion", "must be a string"),
    ({"criterion": "x", "points": 5, "tags": [1]}, "[1].tags[0]", "must be a string"),
    ({"criterion": "x", "points": 5, "weight": 1}, "[1].weight", "unknown field"),
    (["x"], "[1]", "must be an object"),
])
def test_a_bad_healthbench_item_is_named_by_its_path(item, path, message):
    exc = error_of(json.dumps([HEALTHBENCH[0], item]))
    assert message in exc.fields[path]


# --- OpenRubrics -----------------------------------------------------------------------------

def test_the_openrubrics_split_is_read_with_hard_rules_first():
    imported = convert(json.dumps({
        "hard_rules": ["The response must be in French.", {"text": "The response must cite the passage.",
                                                           "points": 8, "tags": ["grounding"]}],
        "principles": ["The response should explain its reasoning step by step."],
    }))
    assert imported.form == "openrubrics"
    a, b, c = imported.criteria
    assert (a["kind"], a["importance"], a["points"]) == ("hard_rule", "essential", 5)
    assert (b["points"], b["tags"]) == (8, ["grounding"])
    assert (c["kind"], c["importance"], c["points"]) == ("principle", "important", 3)
    assert a["key"] == "response_must_be_in_french"


def test_the_openrubrics_text_form_is_read_line_by_line():
    text = (
        "1. The response must provide exactly three examples. [Hard Rule]\n"
        "2. The response should use plain language suited to a beginner. [Principle]\n\n"
        "- The response should avoid jargon [principle]\n"
    )
    imported = convert(text)
    assert [c["kind"] for c in imported.criteria] == ["hard_rule", "principle", "principle"]
    assert imported.criteria[0]["title"] == "The response must provide exactly three examples."
    assert convert(json.dumps({"rubric": text})).criteria == imported.criteria


@pytest.mark.parametrize(("text", "path", "message"), [
    (json.dumps({"hard_rules": ["ok", ""]}), "hard_rules[1]", "is required"),
    (json.dumps({"hard_rules": "ok"}), "hard_rules", "must be a list"),
    (json.dumps({"principles": [{"text": "ok", "points": "high"}]}), "principles[0].points", "must be a number"),
    (json.dumps({"principles": ["ok"], "extra": []}), "extra", "unknown field"),
    (json.dumps({"hard_rules": [], "principles": []}), "document", "no hard rules"),
    ("1. Fine [Hard Rule]\n2. Not labelled at all", "line 2", "[Hard Rule] or [Principle]"),
])
def test_a_bad_openrubrics_document_is_named_by_its_path(text, path, message):
    exc = error_of(text)
    assert message in exc.fields[path]


# --- parsing ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ('{"schema": "rubricate.rubric/v1", ', "Invalid JSON at line 1"),
    ("version:\n  criteria: [\n", "Invalid YAML"),
    ("a: &x [1]\nb: *x\n", "aliases"),
    ("", "empty"),
    (json.dumps({"nothing": 1}), "Unrecognised rubric document"),
])
def test_unreadable_documents_are_refused_with_a_location(text, message):
    assert message in error_of(text).message


def test_yaml_dates_stay_strings():
    imported = convert("schema: rubricate.rubric/v1\nversion:\n  criteria:\n  - key: d\n    title: 2024-01-01\n")
    assert imported.criteria[0]["title"] == "2024-01-01"


def test_deeply_nested_documents_are_refused():
    text = "[" * (settings.IMPORT_MAX_JSON_DEPTH + 5) + "]" * (settings.IMPORT_MAX_JSON_DEPTH + 5)
    assert "nested too deeply" in error_of(text).message


def test_documents_over_the_size_limit_are_refused():
    with pytest.raises(ApplicationError) as info:
        formats.document_parse(b" " * (formats.MAX_DOCUMENT_BYTES + 1))
    assert info.value.status == 413


def test_non_utf8_bytes_are_refused():
    with pytest.raises(ApplicationError, match="not UTF-8"):
        formats.document_parse(b'{"a": "\xff"}')


# --- writing and round trips -----------------------------------------------------------------

def _content(criteria, notes=""):
    return {"notes": notes, "criteria": criteria}


def _export_import(content, syntax):
    doc = formats.version_document(rubric_set={"name": "S", "slug": "s"}, version={"number": 1, "status": "draft"},
                                   content=content)
    return convert(formats.document_dump(doc, syntax=syntax), syntax=syntax)


@pytest.mark.parametrize("syntax", ["json", "yaml"])
def test_the_demo_round_trips_to_the_same_content_hash(syntax):
    imported = convert(DEMO.read_text())
    content = _content(imported.criteria, imported.notes)
    again = _export_import(content, syntax)
    assert rubric_content_hash(_content(again.criteria, again.notes)) == rubric_content_hash(content)


def test_the_yaml_export_writes_guidance_as_a_readable_block():
    imported = convert(DEMO.read_text())
    doc = formats.version_document(rubric_set={"name": "S", "slug": "s"}, version={"number": 1},
                                   content=_content(imported.criteria))
    assert "guidance: |" in formats.document_dump(doc, syntax="yaml")


def test_a_healthbench_export_reimports_to_the_same_criteria_texts_and_points():
    imported = convert(json.dumps(HEALTHBENCH))
    out = formats.version_document(rubric_set={"name": "S", "slug": "s"}, version={},
                                   content=_content(imported.criteria), form="healthbench")
    assert [i["criterion"] for i in out] == [h["criterion"].strip() for h in HEALTHBENCH]
    again = formats.document_convert(out)
    assert again.criteria == imported.criteria


def test_an_openrubrics_export_splits_hard_rules_from_principles():
    imported = convert(DEMO.read_text())
    out = formats.version_document(rubric_set={"name": "S", "slug": "s"}, version={},
                                   content=_content(imported.criteria), form="openrubrics")
    assert len(out["hard_rules"]) == 4 and len(out["principles"]) == 3
    again = formats.document_convert(out)
    assert [c["points"] for c in again.criteria] == [5, 6, 5, -6, 4, 3, 2]


text_st = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=80)
criterion_st = st.fixed_dictionaries({
    "key": st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True),
    "title": text_st.map(lambda s: s.replace("\n", " ").replace("\r", " ").strip() or "t"),
    "guidance": text_st,
    "kind": st.sampled_from(["hard_rule", "principle"]),
    "points": st.one_of(st.integers(1, 100), st.floats(0.01, 100, allow_nan=False).map(lambda x: round(x, 3))),
    "scale": st.sampled_from(["binary", "likert5", "points"]),
    "tags": st.lists(st.from_regex(r"[a-z]{1,8}(:[a-z]{1,8})?", fullmatch=True), max_size=3, unique=True),
})


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(criteria=st.lists(criterion_st, min_size=1, max_size=5, unique_by=lambda c: c["key"]), notes=text_st,
       syntax=st.sampled_from(["json", "yaml"]), negative=st.booleans())
def test_any_valid_content_round_trips_exactly(criteria, notes, syntax, negative):
    if negative:
        criteria = [*criteria, {**criteria[0], "key": criteria[0]["key"] + "-neg", "points": -1}]
    raw = native([{**c, "importance": "pitfall" if c["points"] < 0 else "important"} for c in criteria], notes=notes)
    first = formats.document_convert(raw)
    content = _content(first.criteria, first.notes)
    again = _export_import(content, syntax)
    assert _content(again.criteria, again.notes) == content
