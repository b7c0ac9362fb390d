"""Writes: publishing freezes, editing a published version drafts, concurrency, history, import."""

import json
import threading

import pytest
from django.db import IntegrityError, connection, transaction

from config.errors import ApplicationError, ConflictError
from rubrics import selectors, services
from rubrics.history import event_summary
from rubrics.models import Criterion, RubricEvent, RubricSet, RubricVersion
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.helpers import row

Status = RubricVersion.Status


def crit(version, key):
    return version.criteria.get(key=key)


def data_of(criterion, **changes):
    return {**selectors.criterion_as_dict(criterion), **changes}


# --- publishing ------------------------------------------------------------------------------

def test_publishing_records_the_content_hash_and_who_published_it(draft, alice):
    version = services.rubric_version_publish(version=draft, actor=alice)
    assert version.status == Status.PUBLISHED and version.published_by == alice and version.published_at
    assert version.content_hash == services.rubric_content_hash(selectors.rubric_version_content(version=version))


def test_a_published_version_cannot_be_changed_through_the_services(published, alice):
    c = crit(published, "clear")
    with pytest.raises(ConflictError, match="published"):
        services.criterion_update(version=published, criterion_id=c.id, data=data_of(c, points=9),
                                  expected_criterion_revision=c.revision, actor=alice)
    with pytest.raises(ConflictError):
        services.criterion_add(version=published, data={"title": "Late"}, actor=alice)
    with pytest.raises(ConflictError):
        services.rubric_draft_notes_update(version=published, notes="x", base_notes=None, actor=alice)
    with pytest.raises(ConflictError):
        services.rubric_draft_discard(version=published, actor=alice)
    assert crit(published, "clear").points == 3 and published.criteria.count() == 3


def test_a_published_version_cannot_be_changed_by_raw_sql(published):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE rubrics_criterion SET revision = revision + 1 WHERE version_id = %s", [published.id])
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE rubrics_rubricversion SET content_hash = 'x' WHERE id = %s", [published.id])


@pytest.mark.parametrize(("criteria", "message"), [
    ([], "at least one criterion"),
    ([{"key": "bad", "title": "Bad", "points": -2}], "positive points"),
])
def test_publishing_needs_a_criterion_with_positive_points(alice, criteria, message):
    draft = services.rubric_set_create(name="Empty", actor=alice, criteria=criteria)
    with pytest.raises(ApplicationError, match=message):
        services.rubric_version_publish(version=draft, actor=alice)
    draft.refresh_from_db()
    assert draft.status == Status.DRAFT


def test_publishing_twice_is_a_conflict(published, alice):
    before = row(published)
    with pytest.raises(ConflictError, match="already published"):
        services.rubric_version_publish(version=published, actor=alice)
    assert row(published) == before


# --- editing a published version makes a new draft -------------------------------------------

def test_editing_a_published_version_makes_a_new_draft_copied_from_it(published, alice):
    draft = services.rubric_draft_create(rubric_set=published.rubric_set, actor=alice, from_version=published)
    assert (draft.number, draft.status, draft.based_on, draft.notes) == (2, Status.DRAFT, published, "")
    assert selectors.rubric_version_content(version=draft)["criteria"] == \
        selectors.rubric_version_content(version=published)["criteria"]
    c = crit(draft, "clear")
    services.criterion_update(version=draft, criterion_id=c.id, data=data_of(c, points=4),
                              expected_criterion_revision=c.revision, actor=alice)
    published.refresh_from_db()
    assert crit(published, "clear").points == 3
    assert published.content_hash == services.rubric_content_hash(selectors.rubric_version_content(version=published))


def test_a_set_has_at_most_one_draft(published, alice):
    services.rubric_draft_create(rubric_set=published.rubric_set, actor=alice, from_version=published)
    with pytest.raises(ConflictError, match="already a draft"):
        services.rubric_draft_create(rubric_set=published.rubric_set, actor=alice, from_version=published)
    with pytest.raises(IntegrityError), transaction.atomic():
        RubricVersion.objects.create(rubric_set=published.rubric_set, number=9)
    assert published.rubric_set.versions.count() == 2


def test_archiving_hides_a_version_from_new_projects_but_keeps_it_readable(published, alice):
    project = ProjectFactory(rubric_version=published)
    member = UserFactory(username="member")
    MembershipFactory(project=project, user=member)
    assert published in selectors.rubric_versions_for_new_projects()
    services.rubric_version_archive(version=published, actor=alice)
    assert published not in selectors.rubric_versions_for_new_projects()
    assert selectors.rubric_version_get_for_user(user=member, version_id=published.id).status == Status.ARCHIVED
    services.rubric_version_unarchive(version=published, actor=alice)
    assert published in selectors.rubric_versions_for_new_projects()


def test_discarding_a_draft_deletes_it_and_its_criteria(draft, alice):
    services.rubric_draft_discard(version=draft, actor=alice)
    assert not RubricVersion.objects.filter(pk=draft.pk).exists()
    assert not Criterion.objects.filter(version_id=draft.pk).exists()


# --- editing a draft -------------------------------------------------------------------------

def test_adding_derives_the_key_from_the_title_and_keeps_keys_unique(draft, alice):
    a = services.criterion_add(version=draft, data={"title": "Cites sources!", "points": 2}, actor=alice).criterion
    b = services.criterion_add(version=draft, data={"title": "Cites sources?", "points": 2}, actor=alice).criterion
    assert (a.key, b.key) == ("cites_sources", "cites_sources_2")
    assert (a.position, b.position) == (3, 4)


def test_adding_with_a_used_key_is_an_error_on_the_key_field(draft, alice):
    with pytest.raises(ApplicationError) as info:
        services.criterion_add(version=draft, data={"key": "clear", "title": "Again", "points": 1}, actor=alice)
    assert "already used by “Clear and organised”" in info.value.fields["key"]
    assert draft.criteria.count() == 3


def test_invalid_input_is_an_error_next_to_each_field(draft, alice):
    c = crit(draft, "clear")
    before = row(c), row(draft)
    with pytest.raises(ApplicationError) as info:
        services.criterion_update(version=draft, criterion_id=c.id,
                                  data=data_of(c, title="", points="lots", scale="likert7"),
                                  expected_criterion_revision=c.revision, actor=alice)
    assert set(info.value.fields) == {"title", "points", "scale"}
    assert (row(c), row(draft)) == before


def test_duplicate_inserts_a_copy_below_the_original(draft, alice):
    source = crit(draft, "accurate")
    copy = services.criterion_duplicate(version=draft, criterion_id=source.id, actor=alice).criterion
    assert copy.key == "accurate_copy" and copy.title == "Factually accurate (copy)"
    assert list(draft.criteria.order_by("position").values_list("key", flat=True)) == \
        ["accurate", "accurate_copy", "clear", "fabricates"]


def test_reorder_moves_criteria_and_records_which_one_moved(draft, alice):
    ids = list(draft.criteria.order_by("position").values_list("id", flat=True))
    new = [ids[2], ids[0], ids[1]]
    edit = services.criteria_reorder(version=draft, order=new, base_order=ids, actor=alice)
    assert list(draft.criteria.order_by("position").values_list("id", flat=True)) == new
    assert edit.event.detail["moved"] == [{"key": "fabricates", "from": 2, "to": 0}]
    assert event_summary(edit.event) == "moved `fabricates` from position 3 to 1 in v1"


def test_reorder_must_list_every_criterion_once(draft, alice):
    ids = list(draft.criteria.order_by("position").values_list("id", flat=True))
    with pytest.raises(ApplicationError, match="exactly once"):
        services.criteria_reorder(version=draft, order=[ids[0], ids[0], ids[1]], base_order=ids, actor=alice)
    assert list(draft.criteria.order_by("position").values_list("id", flat=True)) == ids


def test_delete_repacks_positions(draft, alice):
    c = crit(draft, "accurate")
    services.criterion_delete(version=draft, criterion_id=c.id, expected_criterion_revision=c.revision, actor=alice)
    assert list(draft.criteria.order_by("position").values_list("key", "position")) == \
        [("clear", 0), ("fabricates", 1)]


def test_every_edit_bumps_the_revision_and_is_in_the_history(draft, alice):
    assert draft.revision == 1
    c = crit(draft, "clear")
    edit = services.criterion_update(version=draft, criterion_id=c.id, data=data_of(c, points=4, tags=["a"]),
                                     expected_criterion_revision=c.revision, actor=alice)
    assert edit.version.revision == 2 and edit.criterion.revision == 2
    assert edit.event.detail["changes"] == {"points": [3, 4], "tags": [["axis:communication"], ["a"]]}
    assert event_summary(edit.event) == "changed `clear`: points 3 → 4, tags axis:communication → a in v1"


def test_saving_without_changes_records_nothing(draft, alice):
    c = crit(draft, "clear")
    edit = services.criterion_update(version=draft, criterion_id=c.id, data=data_of(c),
                                     expected_criterion_revision=c.revision, actor=alice)
    assert not edit.changed and edit.version.revision == 1


def test_replace_matches_criteria_by_key_and_keeps_their_rows(draft, alice):
    clear = crit(draft, "clear")
    content = selectors.rubric_version_content(version=draft)
    criteria = [dict(content["criteria"][1], points=2), {"key": "new", "title": "New one", "points": 1}]
    edit = services.rubric_draft_replace(version=draft, notes="Second pass", criteria=criteria, expected_revision=1,
                                         actor=alice)
    assert list(draft.criteria.order_by("position").values_list("key", flat=True)) == ["clear", "new"]
    assert crit(draft, "clear").id == clear.id and crit(draft, "clear").revision == 2
    assert edit.event.detail["added"] == ["new"] and set(edit.event.detail["removed"]) == {"accurate", "fabricates"}
    draft.refresh_from_db()
    assert draft.notes == "Second pass" and draft.revision == 2


# --- concurrency -----------------------------------------------------------------------------

def test_the_second_save_of_the_same_criterion_gets_a_conflict_showing_the_first(draft, alice, bob):
    c = crit(draft, "clear")
    loaded = c.revision  # both admins opened the criterion at this revision
    services.criterion_update(version=draft, criterion_id=c.id, data=data_of(c, points=5),
                              expected_criterion_revision=loaded, actor=alice)
    with pytest.raises(ConflictError) as info:
        services.criterion_update(version=draft, criterion_id=c.id, data=data_of(c, title="Clear, organised"),
                                  expected_criterion_revision=loaded, actor=bob)
    conflict = info.value
    assert "alice changed `clear`: points 3 → 5" in conflict.message
    assert {"field": "points", "theirs": 5, "yours": 3} in conflict.extra["differences"]
    assert {"field": "title", "theirs": "Clear and organised", "yours": "Clear, organised"} in \
        conflict.extra["differences"]
    assert crit(draft, "clear").title == "Clear and organised"  # bob's edit was not applied
    # Nothing lost: bob saves again knowingly (on top of the revision he has now seen).
    services.criterion_update(version=draft, criterion_id=c.id,
                              data=data_of(crit(draft, "clear"), title="Clear, organised"),
                              expected_criterion_revision=conflict.extra["current_revision"], actor=bob)
    final = crit(draft, "clear")
    assert (final.points, final.title) == (5, "Clear, organised")


def test_two_admins_editing_different_criteria_both_save(draft, alice, bob):
    a, b = crit(draft, "accurate"), crit(draft, "clear")
    services.criterion_update(version=draft, criterion_id=a.id, data=data_of(a, points=6),
                              expected_criterion_revision=a.revision, actor=alice, client_revision=1)
    edit = services.criterion_update(version=draft, criterion_id=b.id, data=data_of(b, points=2),
                                     expected_criterion_revision=b.revision, actor=bob, client_revision=1)
    assert (crit(draft, "accurate").points, crit(draft, "clear").points) == (6, 2)
    # Bob's page has not seen Alice's change: the answer says so.
    assert [o["actor"] for o in edit.others] == ["alice"]
    assert "changed `accurate`: points 5 → 6" in edit.others[0]["text"]


def test_saving_a_criterion_deleted_meanwhile_is_a_conflict(draft, alice, bob):
    c = crit(draft, "clear")
    services.criterion_delete(version=draft, criterion_id=c.id, expected_criterion_revision=c.revision, actor=alice)
    with pytest.raises(ConflictError, match="deleted") as info:
        services.criterion_update(version=draft, criterion_id=c.id, data=data_of(c, points=2),
                                  expected_criterion_revision=c.revision, actor=bob)
    assert info.value.extra["deleted"] is True
    assert "alice deleted criterion `clear`" in info.value.message
    assert not draft.criteria.filter(key="clear").exists() and draft.criteria.count() == 2


def test_deleting_a_criterion_someone_changed_since_is_a_conflict(draft, alice, bob):
    c = crit(draft, "clear")
    services.criterion_update(version=draft, criterion_id=c.id, data=data_of(c, points=4),
                              expected_criterion_revision=c.revision, actor=alice)
    with pytest.raises(ConflictError, match="changed after you opened it"):
        services.criterion_delete(version=draft, criterion_id=c.id, expected_criterion_revision=c.revision,
                                  actor=bob)
    assert draft.criteria.filter(key="clear").exists()


def test_a_reorder_from_a_stale_list_is_refused_and_changes_nothing(draft, alice, bob):
    ids = list(draft.criteria.order_by("position").values_list("id", flat=True))
    services.criteria_reorder(version=draft, order=[ids[1], ids[0], ids[2]], base_order=ids, actor=alice,
                              client_revision=1)
    with pytest.raises(ConflictError, match="alice moved `clear`"):
        services.criteria_reorder(version=draft, order=[ids[2], ids[0], ids[1]], base_order=ids, actor=bob,
                                  client_revision=1)
    assert list(draft.criteria.order_by("position").values_list("id", flat=True)) == [ids[1], ids[0], ids[2]]


def test_publishing_after_someone_else_edited_is_a_conflict_listing_their_change(draft, alice, bob):
    c = crit(draft, "clear")
    services.criterion_update(version=draft, criterion_id=c.id, data=data_of(c, points=4),
                              expected_criterion_revision=c.revision, actor=bob)
    with pytest.raises(ConflictError, match="bob changed `clear`: points 3 → 4"):
        services.rubric_version_publish(version=draft, actor=alice, expected_revision=1)
    draft.refresh_from_db()
    assert draft.status == Status.DRAFT
    assert services.rubric_version_publish(version=draft, actor=alice, expected_revision=2).status == Status.PUBLISHED


def test_publishing_is_not_held_up_by_the_publishers_own_edits(draft, alice):
    c = crit(draft, "clear")
    services.criterion_update(version=draft, criterion_id=c.id, data=data_of(c, points=4),
                              expected_criterion_revision=c.revision, actor=alice)
    assert services.rubric_version_publish(version=draft, actor=alice, expected_revision=1).status == Status.PUBLISHED


def test_notes_changed_by_someone_else_are_a_conflict_that_shows_their_text(draft, alice, bob):
    services.rubric_draft_notes_update(version=draft, notes="Alice's notes", base_notes="", actor=alice)
    with pytest.raises(ConflictError) as info:
        services.rubric_draft_notes_update(version=draft, notes="Bob's notes", base_notes="", actor=bob)
    assert info.value.extra["theirs"] == "Alice's notes"
    draft.refresh_from_db()
    assert draft.notes == "Alice's notes"


def test_replacing_the_content_from_an_old_revision_is_a_conflict_and_saves_nothing(draft, alice, bob):
    c = crit(draft, "clear")
    services.criterion_update(version=draft, criterion_id=c.id, data=data_of(c, points=4),
                              expected_criterion_revision=c.revision, actor=alice)
    before = selectors.rubric_version_content(version=draft)
    with pytest.raises(ConflictError) as info:
        services.rubric_draft_replace(version=draft, notes="", criteria=[], expected_revision=1, actor=bob)
    assert info.value.extra["current_revision"] == 2
    assert info.value.extra["changes"][0]["actor"] == "alice"
    assert selectors.rubric_version_content(version=draft) == before


@pytest.mark.django_db(transaction=True)
def test_simultaneous_saves_are_serialised_one_wins_and_one_gets_a_conflict():
    alice = UserFactory(username="alice", is_staff=True)
    bob = UserFactory(username="bob", is_staff=True)
    draft = services.rubric_set_create(name="Race", actor=alice, criteria=[{"key": "k", "title": "K", "points": 1}])
    c = draft.criteria.get()
    barrier = threading.Barrier(2)
    outcomes = {}

    def save(user, points):
        try:
            barrier.wait(timeout=10)
            services.criterion_update(version=draft, criterion_id=c.id, data=data_of(c, points=points),
                                      expected_criterion_revision=c.revision, actor=user)
            outcomes[user.username] = "saved"
        except ConflictError:
            outcomes[user.username] = "conflict"
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(alice, 7)), threading.Thread(target=save, args=(bob, 8))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes.values()) == ["conflict", "saved"]
    winner = next(u for u, o in outcomes.items() if o == "saved")
    c.refresh_from_db()
    assert (c.points, c.revision) == ({"alice": 7, "bob": 8}[winner], 2)
    assert RubricEvent.objects.filter(action="edited").count() == 1


# --- history ---------------------------------------------------------------------------------

def test_the_history_says_who_did_what(draft, alice, bob):
    c = crit(draft, "clear")
    services.criterion_update(version=draft, criterion_id=c.id, data=data_of(c, points=4),
                              expected_criterion_revision=c.revision, actor=bob)
    v1 = services.rubric_version_publish(version=draft, actor=alice)
    v2 = services.rubric_draft_create(rubric_set=v1.rubric_set, actor=bob, from_version=v1)
    services.rubric_version_archive(version=v1, actor=alice)
    services.rubric_draft_discard(version=v2, actor=bob)
    events, _ = selectors.rubric_event_page(rubric_set=v1.rubric_set)
    lines = [f"{e.actor.username} {e.summary}" for e in reversed(events)]
    assert lines[0] == "alice created the set"
    assert lines[1] == "alice created draft v1"
    assert lines[2] == "bob changed `clear`: points 3 → 4 in v1"
    assert lines[3].startswith("alice published v1 (content hash ")
    assert lines[4:] == ["bob created draft v2 from v1", "alice archived v1", "bob discarded draft v2"]


# --- import ----------------------------------------------------------------------------------

def _counts():
    return (RubricSet.objects.count(), RubricVersion.objects.count(), Criterion.objects.count(),
            RubricEvent.objects.count())


@pytest.mark.parametrize("syntax", ["json", "yaml"])
def test_export_then_import_gives_a_version_with_the_same_content_hash(published, alice, syntax):
    text = selectors.rubric_version_export(version=published, syntax=syntax)
    result = services.rubric_import_text(content=text, actor=alice, set_meta={"slug": "quality-copy"}, publish=True)
    assert result.version.content_hash == published.content_hash
    assert result.source_hash_matches is True and result.created_set
    assert result.version.rubric_set.name == "Quality"


def test_export_then_import_into_the_same_set_gives_the_next_version_with_the_same_hash(published, alice):
    text = selectors.rubric_version_export(version=published, syntax="yaml")
    result = services.rubric_import_text(content=text, actor=alice, rubric_set=published.rubric_set, publish=True)
    assert (result.version.number, result.version.content_hash) == (2, published.content_hash)


def test_an_import_without_publish_opens_a_draft_and_records_it(alice):
    doc = [{"criterion": "Answers the question.", "points": 5, "tags": []}]
    result = services.rubric_import(document=doc, actor=alice, set_meta={"name": "From HealthBench"})
    v = result.version
    assert (v.status, v.rubric_set.slug, result.form) == (Status.DRAFT, "from-healthbench", "healthbench")
    assert v.rubric_set.events.filter(action="imported", detail__form="healthbench").exists()


@pytest.mark.parametrize(("content", "set_meta", "path"), [
    (json.dumps({"schema": "rubricate.rubric/v1", "rubric_set": {"name": "N", "slug": "n"},
                 "version": {"criteria": [{"key": "a", "title": "A"}, {"key": "b", "title": "B", "points": "3"}]}}),
     None, "version.criteria[1].points"),
    ("schema: rubricate.rubric/v1\nrubric_set: {name: N, slug: n}\nversion:\n  criteria:\n  - {key: a}\n",
     None, "version.criteria[0].title"),
    (json.dumps([{"criterion": "Fine", "points": 2, "tags": []}, {"criterion": "Bad", "points": None, "tags": []}]),
     {"name": "N"}, "[1].points"),
    (json.dumps([{"criterion": "Fine", "points": 2, "tags": []}]), None, "rubric_set.name"),
    (json.dumps({"hard_rules": ["Fine"], "principles": [7]}), {"name": "N"}, "principles[0]"),
    ("1. Fine [Hard Rule]\n2. no label here\n", {"name": "N"}, "line 2"),
])
def test_a_bad_import_names_the_path_and_creates_nothing(alice, content, set_meta, path):
    before = _counts()
    with pytest.raises(ApplicationError) as info:
        services.rubric_import_text(content=content, actor=alice, set_meta=set_meta)
    assert path in info.value.fields
    assert _counts() == before


def test_an_import_that_cannot_be_published_creates_nothing(alice):
    before = _counts()
    with pytest.raises(ApplicationError, match="positive points"):
        services.rubric_import(document=[{"criterion": "Bad", "points": -1, "tags": []}], actor=alice,
                               set_meta={"name": "N"}, publish=True)
    assert _counts() == before


def test_importing_into_a_set_with_an_open_draft_is_a_conflict(draft, alice):
    before = _counts()
    with pytest.raises(ConflictError, match="already a draft"):
        services.rubric_import(document=[{"criterion": "X", "points": 1, "tags": []}], actor=alice,
                               rubric_set=draft.rubric_set)
    assert _counts() == before


def test_importing_a_new_set_whose_slug_exists_is_a_conflict(draft, alice):
    before = _counts()
    with pytest.raises(ConflictError) as info:
        services.rubric_import(document=[{"criterion": "X", "points": 1, "tags": []}], actor=alice,
                               set_meta={"name": "Quality", "slug": "quality"})
    assert "rubric_set.slug" in info.value.fields
    assert _counts() == before


def test_creating_from_a_document_adds_a_version_to_an_existing_set(published, alice):
    doc = json.loads(selectors.rubric_version_export(version=published))
    version = services.rubric_set_create_from_document(document=doc, actor=None, publish=True)
    assert (version.rubric_set, version.number) == (published.rubric_set, 2)
