"""Diff of two versions: criteria lined up by key; added, removed, changed field by field, moved."""

from rubrics import selectors, services
from rubrics.diff import rubric_content_diff


def c(key, **kw):
    return {"key": key, "title": key.title(), "guidance": "", "kind": "principle", "importance": "important",
            "points": 1, "scale": "binary", "tags": [], **kw}


def test_identical_content_has_no_changes():
    content = {"notes": "n", "criteria": [c("a"), c("b")]}
    diff = rubric_content_diff(content, content)
    assert diff.identical and diff.summary() == "no changes" and diff.unchanged == ["a", "b"]


def test_added_removed_and_changed_are_lined_up_by_key():
    old = {"notes": "", "criteria": [c("a"), c("b", points=2), c("gone")]}
    new = {"notes": "", "criteria": [c("a"), c("b", points=4, tags=["x"], title="Bee"), c("fresh")]}
    diff = rubric_content_diff(old, new)
    assert [x["key"] for x in diff.added] == ["fresh"] and diff.added[0]["position"] == 2
    assert [x["key"] for x in diff.removed] == ["gone"]
    (change,) = diff.changed
    assert change.key == "b" and not change.moved
    assert [(f.field, f.old, f.new) for f in change.fields] == [("title", "B", "Bee"), ("points", 2, 4),
                                                                ("tags", [], ["x"])]
    assert diff.summary() == "1 added, 1 removed, 1 changed"


def test_points_compare_by_value():
    diff = rubric_content_diff({"notes": "", "criteria": [c("a", points=3)]},
                               {"notes": "", "criteria": [c("a", points=3.0)]})
    assert diff.identical


def test_guidance_changes_come_with_a_line_diff():
    old = {"notes": "", "criteria": [c("a", guidance="line one\nline two\nline three")]}
    new = {"notes": "", "criteria": [c("a", guidance="line one\nline 2\nline three")]}
    (field,) = rubric_content_diff(old, new).changed[0].fields
    assert field.lines == [(" ", "line one"), ("-", "line two"), ("+", "line 2"), (" ", "line three")]


def test_only_criteria_that_changed_their_relative_order_count_as_moved():
    old = {"notes": "", "criteria": [c("a"), c("b"), c("c"), c("d")]}
    # "new" is inserted at the top (shifting every index) and "d" moves to the front.
    new = {"notes": "", "criteria": [c("new"), c("d"), c("a"), c("b"), c("c")]}
    diff = rubric_content_diff(old, new)
    assert [(x.key, x.old_position, x.new_position) for x in diff.changed if x.moved] == [("d", 3, 1)]
    assert diff.unchanged == ["a", "b", "c"]
    assert diff.summary() == "1 added, 1 moved"


def test_notes_changes_are_reported():
    diff = rubric_content_diff({"notes": "v1", "criteria": []}, {"notes": "v2", "criteria": []})
    assert diff.notes.old == "v1" and diff.notes.new == "v2" and diff.summary() == "notes changed"


def test_two_stored_versions_compare_through_the_selector(published, alice):
    draft = services.rubric_draft_create(rubric_set=published.rubric_set, actor=alice, from_version=published)
    clear = draft.criteria.get(key="clear")
    services.criterion_update(version=draft, criterion_id=clear.id,
                              data={**selectors.criterion_as_dict(clear), "scale": "binary"},
                              expected_criterion_revision=clear.revision, actor=alice)
    services.criterion_add(version=draft, data={"title": "Cites sources", "points": 2}, actor=alice)
    diff = selectors.rubric_version_diff(old=published, new=draft).as_dict()
    assert diff["summary"] == "1 added, 1 changed"
    assert diff["changed"][0]["fields"] == [{"field": "scale", "old": "likert5", "new": "binary"}]
    assert diff["added"][0]["key"] == "cites_sources"
