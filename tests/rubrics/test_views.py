"""Rubric pages and the htmx editor: permissions, fragments, conflicts, query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rubrics import selectors, services
from rubrics.models import RubricVersion
from tests.factories import published_version
from tests.helpers import counts, row

HX = {"HTTP_HX_REQUEST": "true"}


def url(name, *args, **kwargs):
    return reverse(f"rubrics:{name}", args=args, kwargs=kwargs)


@pytest.fixture
def staff(client_for, alice):
    return client_for(alice)


def row_url(version, name, criterion):
    return url(name, version.rubric_set.slug, version.number, criterion.id)


# --- permissions -----------------------------------------------------------------------------

def test_staff_see_every_set_in_the_list(staff, draft, rubric_version):
    body = staff.get(url("set_list")).content.decode()
    assert "Quality" in body and rubric_version.rubric_set.name in body and "New rubric set" in body


def test_an_annotator_sees_only_the_sets_pinned_by_their_projects(client_for, annotator, rubric_version, draft):
    body = client_for(annotator).get(url("set_list")).content.decode()
    assert rubric_version.rubric_set.name in body
    assert "Quality" not in body and "New rubric set" not in body


def test_an_annotator_reads_a_pinned_published_version(client_for, annotator, rubric_version):
    c = client_for(annotator)
    slug = rubric_version.rubric_set.slug
    assert c.get(url("set_detail", slug)).status_code == 200
    page = c.get(url("version_detail", slug, rubric_version.number))
    assert page.status_code == 200 and "Criterion 0" in page.content.decode()
    assert c.get(url("version_export", slug, rubric_version.number) + "?syntax=yaml").status_code == 200
    assert c.get(url("version_preview", slug, rubric_version.number)).status_code == 200


def test_an_annotator_cannot_edit_or_publish_even_what_they_can_read(client_for, annotator, rubric_version):
    c = client_for(annotator)
    slug, n = rubric_version.rubric_set.slug, rubric_version.number
    before = row(rubric_version)
    assert c.post(url("set_new_draft", slug), {"from": n}).status_code == 403
    assert c.post(url("version_archive", slug, n)).status_code == 403
    assert c.get(url("set_new")).status_code == 403
    assert c.get(url("import")).status_code == 403
    assert RubricVersion.objects.filter(rubric_set=rubric_version.rubric_set).count() == 1
    assert row(rubric_version) == before


def test_an_annotator_gets_404_for_drafts_and_unpinned_sets(client_for, annotator, draft, rubric_version):
    c = client_for(annotator)
    assert c.get(url("set_detail", "quality")).status_code == 404
    assert c.get(url("version_detail", "quality", 1)).status_code == 404
    other = published_version(criteria=2)
    assert c.get(url("version_detail", other.rubric_set.slug, other.number)).status_code == 404


def test_an_outsider_gets_404_for_everything_of_a_set(client_for, outsider, rubric_version, draft):
    c = client_for(outsider)
    slug, n = rubric_version.rubric_set.slug, rubric_version.number
    before = row(draft), draft.criteria.count()
    for response in [
        c.get(url("set_detail", slug)), c.get(url("version_detail", slug, n)),
        c.get(url("version_export", slug, n)), c.get(url("version_preview", slug, n)),
        c.get(url("set_compare", slug)), c.post(url("version_publish", "quality", 1)),
        c.post(url("criterion_add", "quality", 1), {"title": "x", "points": 1}),
    ]:
        assert response.status_code == 404
    assert (row(draft), draft.criteria.count()) == before
    assert rubric_version.rubric_set.name not in c.get(url("set_list")).content.decode()


def test_anonymous_users_are_sent_to_log_in(client, draft):
    response = client.get(url("set_detail", "quality"))
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- sets, versions, history -----------------------------------------------------------------

def test_creating_a_set_opens_its_first_draft(staff):
    response = staff.post(url("set_new"), {"name": "Helpfulness", "slug": "", "description": ""})
    assert response.status_code == 302 and response["Location"] == url("version_detail", "helpfulness", 1)
    page = staff.get(response["Location"]).content.decode()
    assert 'id="criterion-add"' in page and "Publish v1" in page


def test_a_bad_slug_is_shown_next_to_the_field(staff, draft):
    before = counts(RubricVersion)
    response = staff.post(url("set_new"), {"name": "Again", "slug": "quality"})
    assert response.status_code == 422 and "already used" in response.content.decode()
    assert counts(RubricVersion) == before and draft.rubric_set.name == "Quality"


def test_the_set_page_lists_versions_and_history(staff, published, alice):
    services.rubric_draft_create(rubric_set=published.rubric_set, actor=alice, from_version=published)
    body = staff.get(url("set_detail", "quality")).content.decode()
    assert 'id="version-2"' in body and 'id="version-1"' in body
    assert "alice" in body and "published v1" in body and "created draft v2 from v1" in body
    assert "Open draft v2" in body


def test_archive_returns_to_a_local_page_only(staff, published):
    response = staff.post(url("version_archive", "quality", 1), {"next": "https://evil.example/"})
    assert response["Location"] == url("set_detail", "quality")
    response = staff.post(url("version_unarchive", "quality", 1), {"next": url("version_detail", "quality", 1)})
    assert response["Location"] == url("version_detail", "quality", 1)


def test_edit_on_a_published_version_creates_a_draft_and_opens_it(staff, published):
    response = staff.post(url("set_new_draft", "quality"), {"from": 1})
    assert response["Location"] == url("version_detail", "quality", 2)
    assert RubricVersion.objects.get(rubric_set=published.rubric_set, number=2).based_on == published
    # A second "edit" lands on the open draft instead of forking another.
    again = staff.post(url("set_new_draft", "quality"), {"from": 1})
    assert again["Location"] == url("version_detail", "quality", 2)


def test_the_compare_page_shows_changes_field_by_field(staff, published, alice):
    draft = services.rubric_draft_create(rubric_set=published.rubric_set, actor=alice, from_version=published)
    c = draft.criteria.get(key="clear")
    services.criterion_update(version=draft, criterion_id=c.id, data={**selectors.criterion_as_dict(c), "points": 2},
                              expected_criterion_revision=c.revision, actor=alice)
    body = staff.get(url("set_compare", "quality") + "?from=1&to=2").content.decode()
    assert "v1 → v2: 1 changed" in body and 'id="diff-changed"' in body and "+3" in body and "+2" in body


def test_history_pages_continue_with_older_events(staff, draft, alice):
    for i in range(35):
        services.rubric_draft_notes_update(version=draft, notes=f"n{i}", base_notes=None, actor=alice)
    first = staff.get(url("set_detail", "quality")).content.decode()
    assert first.count('class="event ') == 30 and 'id="history-more"' in first
    more = staff.get(url("set_history", "quality") + "?before=999999", **HX).content.decode()
    assert more.count('class="event ') == 30


def test_export_downloads_a_named_file(staff, published):
    response = staff.get(url("version_export", "quality", 1) + "?syntax=yaml")
    assert response["Content-Disposition"] == 'attachment; filename="quality-v1.yaml"'
    assert response.content.decode().startswith("schema: rubricate.rubric/v1")
    hb = staff.get(url("version_export", "quality", 1) + "?form=healthbench")
    assert hb["Content-Disposition"] == 'attachment; filename="quality-v1.healthbench.json"'


def test_the_import_page_imports_a_pasted_document(staff, published):
    text = staff.get(url("version_export", "quality", 1)).content.decode()
    response = staff.post(url("import"), {"content": text, "syntax": "auto", "form": "auto", "slug": "quality-2",
                                          "publish": "on"})
    assert response.status_code == 302
    copy = RubricVersion.objects.get(rubric_set__slug="quality-2")
    assert copy.content_hash == published.content_hash


def test_the_import_page_shows_each_bad_path_and_keeps_the_text(staff):
    text = '[{"criterion": "ok", "points": 1, "tags": []}, {"criterion": "bad", "points": "x", "tags": []}]'
    response = staff.post(url("import"), {"content": text, "syntax": "auto", "form": "auto", "name": "Bad"})
    body = response.content.decode()
    assert response.status_code == 400 and "<code>[1].points</code>: must be a number" in body
    assert "Nothing was imported." in body and "&quot;criterion&quot;: &quot;bad&quot;" in body
    assert not RubricVersion.objects.exists()


# --- the editor (htmx) -----------------------------------------------------------------------

def test_adding_a_criterion_returns_a_fresh_form_the_new_row_and_the_saved_state(staff, draft):
    response = staff.post(url("criterion_add", "quality", 1),
                          {"title": "Cites sources", "points": "2", "importance": "important", "kind": "principle",
                           "scale": "binary", "tags": "axis:accuracy, grounding", "client_revision": "1"}, **HX)
    body = response.content.decode()
    assert response.status_code == 200 and response["HX-Trigger"] == "rubricChanged"
    assert 'id="criterion-add"' in body and "autofocus" in body
    assert 'hx-swap-oob="beforeend:#criteria-list"' in body and "cites_sources" in body
    assert 'id="save-state"' in body and "Saved at" in body and 'value="2"' in body
    assert draft.criteria.get(key="cites_sources").tags == ["axis:accuracy", "grounding"]


def test_an_invalid_criterion_is_shown_next_to_its_fields_and_keeps_the_input(staff, draft):
    response = staff.post(url("criterion_add", "quality", 1),
                          {"title": "Typed title", "points": "lots", "importance": "important", "kind": "principle",
                           "scale": "binary", "tags": ""}, **HX)
    body = response.content.decode()
    assert response.status_code == 422
    assert 'id="fnew-points-err">must be a number' in body and 'value="Typed title"' in body
    assert draft.criteria.count() == 3


def test_editing_a_criterion_saves_and_returns_its_row(staff, draft):
    c = draft.criteria.get(key="clear")
    form = staff.get(row_url(draft, "criterion_edit", c), **HX)
    assert 'name="criterion_revision" value="1"' in form.content.decode()
    data = {**selectors.criterion_as_dict(c), "points": "4", "tags": "axis:communication", "criterion_revision": "1",
            "client_revision": "1"}
    response = staff.post(row_url(draft, "criterion_edit", c), data, **HX)
    assert response.status_code == 200 and f'id="criterion-{c.id}"' in response.content.decode()
    c.refresh_from_db()
    assert (c.points, c.revision) == (4, 2)


def test_a_stale_edit_gets_a_conflict_with_both_versions_and_keeps_the_input(staff, client_for, bob, draft):
    c = draft.criteria.get(key="clear")
    data = {**selectors.criterion_as_dict(c), "tags": "axis:communication", "criterion_revision": "1"}
    assert client_for(bob).post(row_url(draft, "criterion_edit", c), {**data, "points": "5"}, **HX).status_code == 200
    response = staff.post(row_url(draft, "criterion_edit", c), {**data, "title": "Alice's title"}, **HX)
    body = response.content.decode()
    assert response.status_code == 409
    assert "bob changed `clear`: points 3 → 5" in body
    assert "Theirs (saved now)" in body and 'value="Alice&#x27;s title"' in body and "Save mine anyway" in body
    assert 'name="criterion_revision" value="2"' in body  # saving again is now a deliberate overwrite
    c.refresh_from_db()
    assert (c.title, c.points, c.revision) == ("Clear and organised", 5, 2)  # Bob's save, untouched


def test_a_stale_page_is_told_about_other_admins_changes(staff, client_for, bob, draft):
    a, b = draft.criteria.get(key="accurate"), draft.criteria.get(key="clear")
    client_for(bob).post(row_url(draft, "criterion_edit", a), {**selectors.criterion_as_dict(a), "tags": "",
                                                                "points": "6", "criterion_revision": "1"}, **HX)
    response = staff.post(row_url(draft, "criterion_edit", b),
                          {**selectors.criterion_as_dict(b), "tags": "", "points": "2", "criterion_revision": "1",
                           "client_revision": "1"}, **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Someone else is editing this draft" in body and "bob changed `accurate`" in body
    assert 'id="draft-revision" name="client_revision" value="1"' in body  # page revision held back


def test_a_failed_save_keeps_the_page_revision_and_still_reports_others(staff, client_for, bob, draft):
    a = draft.criteria.get(key="accurate")
    client_for(bob).post(row_url(draft, "criterion_edit", a), {**selectors.criterion_as_dict(a), "tags": "",
                                                                "points": "6", "criterion_revision": "1"}, **HX)
    response = staff.post(url("criterion_add", "quality", 1), {"title": "", "points": "1", "client_revision": "1"},
                          **HX)
    body = response.content.decode()
    assert response.status_code == 422 and "Not saved" in body
    assert 'id="draft-revision" name="client_revision" value="1"' in body and "bob changed `accurate`" in body
    assert draft.criteria.count() == 3


def test_reorder_and_a_stale_reorder(staff, draft):
    ids = list(draft.criteria.order_by("position").values_list("id", flat=True))
    moved = [ids[1], ids[0], ids[2]]
    ok = staff.post(url("criteria_reorder", "quality", 1),
                    {"order": ",".join(map(str, moved)), "base_order": ",".join(map(str, ids))}, **HX)
    assert ok.status_code == 200
    stale = staff.post(url("criteria_reorder", "quality", 1),
                       {"order": ",".join(map(str, ids)), "base_order": ",".join(map(str, ids))}, **HX)
    assert stale.status_code == 409 and stale["HX-Retarget"] == "#criteria-list"
    assert list(draft.criteria.order_by("position").values_list("id", flat=True)) == moved


def test_duplicate_and_delete(staff, draft):
    c = draft.criteria.get(key="accurate")
    dup = staff.post(row_url(draft, "criterion_duplicate", c), **HX)
    assert dup.status_code == 200 and "accurate_copy" in dup.content.decode()
    copy = draft.criteria.get(key="accurate_copy")
    gone = staff.post(row_url(draft, "criterion_delete", copy), {"criterion_revision": copy.revision}, **HX)
    assert gone.status_code == 200 and not draft.criteria.filter(key="accurate_copy").exists()


def test_notes_save_and_conflict(staff, client_for, bob, draft):
    client_for(bob).post(url("version_notes", "quality", 1), {"notes": "Bob's", "base_notes": ""}, **HX)
    response = staff.post(url("version_notes", "quality", 1), {"notes": "Alice's", "base_notes": ""}, **HX)
    body = response.content.decode()
    assert response.status_code == 409 and "Their text" in body and "Alice&#x27;s" in body and "Bob&#x27;s" in body
    draft.refresh_from_db()
    assert draft.notes == "Bob's"


def test_publishing_from_the_editor_redirects_to_the_set(staff, draft):
    response = staff.post(url("version_publish", "quality", 1), {"client_revision": "1"}, **HX)
    assert response.status_code == 204 and response["HX-Redirect"] == url("set_detail", "quality")
    draft.refresh_from_db()
    assert draft.status == "published"


def test_publishing_a_draft_without_positive_points_says_why(staff, alice):
    services.rubric_set_create(name="Neg", actor=alice, criteria=[{"key": "p", "title": "P", "points": -1}])
    response = staff.post(url("version_publish", "neg", 1), **HX)
    assert response.status_code == 422 and "positive points" in response.content.decode()
    assert RubricVersion.objects.get(rubric_set__slug="neg").status == RubricVersion.Status.DRAFT


def test_the_preview_shows_disabled_scale_controls(staff, draft):
    body = staff.get(url("version_preview", "quality", 1), **HX).content.decode()
    assert body.count('class="criterion"') == 3 and body.count("<input") == body.count(" disabled>") == 2 * (2 + 5 + 2)
    assert "<strong>correct</strong>" in body  # guidance rendered as markdown


def test_guidance_is_rendered_sanitised(staff, alice):
    services.rubric_set_create(name="Xss", actor=alice, criteria=[
        {"key": "x", "title": "<script>alert(1)</script>", "points": 1, "guidance": "<img src=x onerror=alert(1)>"}])
    body = staff.get(url("version_detail", "xss", 1)).content.decode()
    assert "<script>alert(1)</script>" not in body and "<img" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body  # shown as text, inert


# --- queries ---------------------------------------------------------------------------------

def _queries(client, path):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len(ctx.captured_queries)


def test_the_editor_page_costs_the_same_queries_for_3_or_30_criteria(staff, draft, alice):
    few = _queries(staff, url("version_detail", "quality", 1))
    for i in range(27):
        services.criterion_add(version=draft, data={"title": f"Extra {i}", "points": 1, "tags": ["t"]}, actor=alice)
    assert _queries(staff, url("version_detail", "quality", 1)) == few


def test_the_set_pages_cost_the_same_queries_for_1_or_6_versions(staff, published, alice):
    list_few, detail_few = _queries(staff, url("set_list")), _queries(staff, url("set_detail", "quality"))
    version = published
    for _ in range(5):
        version = services.rubric_draft_create(rubric_set=published.rubric_set, actor=alice, from_version=version)
        version = services.rubric_version_publish(version=version, actor=alice)
    assert _queries(staff, url("set_list")) == list_few
    assert _queries(staff, url("set_detail", "quality")) == detail_few
