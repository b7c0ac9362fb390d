"""Projects, members, import (page, command, API), items, review and gold through HTTP."""

import json
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from annotator.models import Adjudication, Item, Project, ProjectMembership
from tests.factories import ItemFactory, JudgmentFactory, UserFactory, published_version
from tests.helpers import counts, row

Role = ProjectMembership.Role
LINE = {"id": "x1", "prompt": "Hello?", "responses": [{"content": "Hi!"}, {"content": "Hey."}]}


def jsonl(*rows) -> bytes:
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


# --- Projects ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_site_admin_creates_a_project_pinned_to_a_published_rubric(client_for, staff_admin, rubric_version):
    c = client_for(staff_admin)
    assert c.get("/projects/new/").status_code == 200
    response = c.post("/projects/new/", {
        "name": "Safety pairs", "rubric_version": rubric_version.id, "overlap": 3, "guidelines": "# Read me",
        "randomize_order": "on", "hide_model_identities": "on", "queue_order": "random", "lease_minutes": 20,
    })
    project = Project.objects.get(name="Safety pairs")
    assert response.status_code == 302 and response["Location"] == f"/projects/{project.id}/import/"
    assert (project.overlap, project.queue_order, project.lease_minutes) == (3, "random", 20)
    assert project.randomize_order and project.hide_model_identities and not project.rationale_required
    assert project.memberships.get().role == Role.ADMIN


@pytest.mark.django_db
def test_only_published_rubric_versions_can_be_pinned(client_for, staff_admin):
    from tests.factories import RubricVersionFactory

    draft = RubricVersionFactory()
    response = client_for(staff_admin).post("/projects/new/", {"name": "X", "rubric_version": draft.id,
                                                               "overlap": 1, "queue_order": "oldest",
                                                               "lease_minutes": 30})
    assert response.status_code == 200 and "rubric_version" in response.context["form"].errors
    assert not Project.objects.filter(name="X").exists()


@pytest.mark.django_db
def test_people_who_are_not_site_admins_cannot_create_projects(client_for, project_admin):
    assert client_for(project_admin).get("/projects/new/").status_code == 403


@pytest.mark.django_db
def test_a_project_admin_edits_the_settings(client_for, project_admin, project):
    newer = published_version(criteria=2)
    c = client_for(project_admin)
    response = c.post(f"/projects/{project.id}/settings/", {
        "name": "Renamed", "rubric_version": newer.id, "overlap": 1, "guidelines": "Be kind",
        "rationale_required": "on", "queue_order": "oldest", "lease_minutes": 45,
    })
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.name, project.rubric_version, project.overlap, project.rationale_required) == (
        "Renamed", newer, 1, True)
    assert not project.randomize_order


@pytest.mark.django_db
def test_settings_are_for_project_admins_only(client_for, annotator, reviewer, outsider, project):
    before = row(project)
    assert client_for(annotator).get(f"/projects/{project.id}/settings/").status_code == 403
    assert client_for(reviewer).post(f"/projects/{project.id}/settings/", {"name": "x"}).status_code == 403
    assert client_for(outsider).get(f"/projects/{project.id}/settings/").status_code == 404
    assert client_for(outsider).post(f"/projects/{project.id}/settings/", {"name": "x"}).status_code == 404
    assert row(project) == before


# --- Members ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_project_admin_adds_changes_and_removes_members(client_for, project_admin, project):
    newcomer = UserFactory(username="newcomer")
    c = client_for(project_admin)
    assert c.post(f"/projects/{project.id}/members/", {"username": "newcomer", "role": "annotator"}).status_code == 302
    assert project.memberships.get(user=newcomer).role == Role.ANNOTATOR
    c.post(f"/projects/{project.id}/members/{newcomer.id}/role/", {"role": "reviewer"})
    assert project.memberships.get(user=newcomer).role == Role.REVIEWER
    c.post(f"/projects/{project.id}/members/{newcomer.id}/remove/")
    assert not project.memberships.filter(user=newcomer).exists()
    body = c.get(f"/projects/{project.id}/members/").content.decode()
    assert "padmin" in body


@pytest.mark.django_db
def test_adding_an_unknown_user_says_so(client_for, project_admin, project):
    before = counts(ProjectMembership)
    response = client_for(project_admin).post(f"/projects/{project.id}/members/", {"username": "ghost",
                                                                                  "role": "annotator"})
    assert response.status_code == 200 and "No account is named “ghost”" in response.content.decode()
    assert counts(ProjectMembership) == before


@pytest.mark.django_db
def test_the_last_admin_cannot_be_demoted_or_removed(client_for, project_admin, project):
    c = client_for(project_admin)
    c.post(f"/projects/{project.id}/members/{project_admin.id}/role/", {"role": "annotator"})
    c.post(f"/projects/{project.id}/members/{project_admin.id}/remove/")
    assert project.memberships.get(user=project_admin).role == Role.ADMIN


@pytest.mark.django_db
def test_members_pages_are_for_project_admins_only(client_for, annotator, outsider, project):
    before = counts(ProjectMembership)
    assert client_for(annotator).get(f"/projects/{project.id}/members/").status_code == 403
    assert client_for(annotator).post(f"/projects/{project.id}/members/{annotator.id}/role/",
                                      {"role": "admin"}).status_code == 403
    assert client_for(annotator).post(f"/projects/{project.id}/members/",
                                      {"username": "outsider", "role": "admin"}).status_code == 403
    assert client_for(outsider).get(f"/projects/{project.id}/members/").status_code == 404
    assert client_for(outsider).post(f"/projects/{project.id}/members/{annotator.id}/remove/").status_code == 404
    assert project.memberships.get(user=annotator).role == Role.ANNOTATOR
    assert counts(ProjectMembership) == before


# --- Import: page, command, API ---------------------------------------------------------------


@pytest.mark.django_db
def test_the_import_page_reports_new_updated_and_unchanged(client_for, project_admin, project):
    c = client_for(project_admin)
    upload = SimpleUploadedFile("items.jsonl", jsonl(LINE), content_type="application/x-ndjson")
    response = c.post(f"/projects/{project.id}/import/", {"file": upload, "format": "auto"},
                      HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert 'id="report-created">1<' in body and "native" in body
    upload = SimpleUploadedFile("items.jsonl", jsonl(LINE), content_type="application/x-ndjson")
    body = c.post(f"/projects/{project.id}/import/", {"file": upload, "format": "auto"}).content.decode()
    assert 'id="report-unchanged">1<' in body
    assert Item.objects.count() == 1


@pytest.mark.django_db
def test_the_import_page_shows_the_bad_line_and_stores_nothing(client_for, project_admin, project):
    bad = jsonl(LINE, {"id": "x2", "prompt": "p", "responses": [{"content": "only one"}]})
    upload = SimpleUploadedFile("items.jsonl", bad)
    response = client_for(project_admin).post(f"/projects/{project.id}/import/", {"file": upload, "format": "auto"})
    assert response.status_code == 400
    assert "line 2: responses: must be a list of at least 2 responses" in response.content.decode()
    assert not Item.objects.exists()


@pytest.mark.django_db
def test_the_import_page_refuses_an_oversize_file_with_413(client_for, project_admin, project, settings):
    settings.IMPORT_MAX_FILE_BYTES = 50
    upload = SimpleUploadedFile("items.jsonl", jsonl(LINE, {**LINE, "id": "x2"}))
    response = client_for(project_admin).post(f"/projects/{project.id}/import/", {"file": upload, "format": "auto"})
    assert response.status_code == 413
    assert not Item.objects.exists()


@pytest.mark.django_db
def test_import_is_for_project_admins_only(client_for, annotator, reviewer, outsider, project):
    for user, status in ((annotator, 403), (reviewer, 403), (outsider, 404)):
        upload = SimpleUploadedFile("items.jsonl", jsonl(LINE))
        assert client_for(user).post(f"/projects/{project.id}/import/", {"file": upload}).status_code == status
    assert not Item.objects.exists()


@pytest.mark.django_db
def test_the_import_items_command_imports_and_reports(project, tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_bytes(jsonl(LINE))
    out = StringIO()
    call_command("import_items", str(project.id), str(path), stdout=out)
    assert "1 new, 0 updated, 0 unchanged" in out.getvalue()
    path.write_bytes(jsonl(LINE, {"id": "bad"}))
    with pytest.raises(CommandError, match="line 2: prompt"):
        call_command("import_items", str(project.id), str(path), stdout=StringIO())
    assert Item.objects.count() == 1


def _api(client, project, body: bytes, content_type="application/x-ndjson", query=""):
    return client.post(f"/api/v1/projects/{project.id}/items/import{query}", data=body, content_type=content_type)


@pytest.mark.django_db
def test_the_api_imports_a_raw_jsonl_body(client_for, project_admin, project):
    response = _api(client_for(project_admin), project, jsonl(LINE), query="?file_format=native")
    assert response.status_code == 200
    assert response.json() == {"format": "native", "total": 1, "created": 1, "updated": 0, "unchanged": 0}


@pytest.mark.django_db
def test_the_api_imports_a_multipart_upload_with_gold(client_for, project_admin, project):
    trl = jsonl({"prompt": "2+2?", "chosen": "4", "rejected": "5"})
    upload = SimpleUploadedFile("pairs.jsonl", trl)
    response = client_for(project_admin).post(f"/api/v1/projects/{project.id}/items/import",
                                              {"file": upload, "file_format": "auto", "gold": "true"})
    assert response.status_code == 200 and response.json()["format"] == "trl"
    assert Item.objects.get().is_gold


@pytest.mark.django_db
def test_the_api_names_the_bad_line_and_field(client_for, project_admin, project):
    response = _api(client_for(project_admin), project, jsonl(LINE, {**LINE, "id": "x2", "responses": "nope"}))
    assert response.status_code == 400
    data = response.json()
    assert data["error"] == "invalid" and data["line"] == 2 and data["field"] == "responses"
    assert not Item.objects.exists()


@pytest.mark.django_db
def test_the_api_refuses_an_oversize_body_with_413(client_for, project_admin, project, settings):
    settings.IMPORT_MAX_FILE_BYTES = 40
    response = _api(client_for(project_admin), project, jsonl(LINE))
    assert response.status_code == 413 and response.json()["error"] == "too_large"
    assert not Item.objects.exists()


@pytest.mark.django_db
def test_the_api_import_is_for_project_admins_only(client_for, annotator, outsider, project):
    assert _api(client_for(annotator), project, jsonl(LINE)).status_code == 403
    assert _api(client_for(outsider), project, jsonl(LINE)).status_code == 404
    assert not Item.objects.exists()


@pytest.mark.django_db
def test_the_api_import_is_documented_in_the_schema(client_for, annotator):
    schema = client_for(annotator).get("/api/v1/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "/api/v1/projects/{project_id}/items/import" in schema and "items_import" in schema


# --- Items, review, gold ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_item_list_pages_by_keyset_and_filters(client_for, reviewer, project):
    items = [ItemFactory(project=project) for _ in range(55)]
    c = client_for(reviewer)
    first = c.get(f"/projects/{project.id}/items/")
    assert len(first.context["page"]["items"]) == 50
    second = c.get(f"/projects/{project.id}/items/?after={first.context['page']['next']}")
    assert [i.id for i in second.context["page"]["items"]] == [i.id for i in items[50:]]
    assert c.get(f"/projects/{project.id}/items/?filter=gold").context["page"]["items"] == []
    ItemFactory(project=project, external_id="needle-in-haystack")
    found = c.get(f"/projects/{project.id}/items/?q=NEEDLE").context["page"]["items"]
    assert [i.external_id for i in found] == ["needle-in-haystack"]


@pytest.mark.django_db
def test_the_item_list_makes_a_fixed_number_of_queries(client_for, reviewer, project, django_assert_max_num_queries):
    for _ in range(30):
        ItemFactory(project=project)
    c = client_for(reviewer)
    with django_assert_max_num_queries(8):
        c.get(f"/projects/{project.id}/items/")


@pytest.mark.django_db
def test_the_item_page_shows_judgments_to_reviewers(client_for, reviewer, project, make_annotators):
    (u1,) = make_annotators(1)
    j = JudgmentFactory(item=ItemFactory(project=project), annotator=u1, preference=-2)
    body = client_for(reviewer).get(f"/projects/{project.id}/items/{j.item_id}/").content.decode()
    assert "ann0" in body and "Response 1 better" in body
    assert "model-0" in body  # reviewers see model names


@pytest.mark.django_db
def test_a_project_admin_seeds_a_gold_answer(client_for, project_admin, project):
    item = ItemFactory(project=project)
    c = client_for(project_admin)
    c.post(f"/projects/{project.id}/items/{item.id}/gold/", {"is_gold": "1", "preference": "2"})
    item.refresh_from_db()
    assert item.is_gold and item.gold_preference == 2
    c.post(f"/projects/{project.id}/items/{item.id}/gold/", {"is_gold": "0"})
    item.refresh_from_db()
    assert not item.is_gold and item.gold_preference is None


@pytest.mark.django_db
def test_reviewers_cannot_seed_gold(client_for, reviewer, project):
    item = ItemFactory(project=project)
    before = row(item)
    assert client_for(reviewer).post(f"/projects/{project.id}/items/{item.id}/gold/",
                                     {"is_gold": "1", "preference": "2"}).status_code == 403
    assert row(item) == before


@pytest.mark.django_db
def test_the_review_list_shows_disagreements_with_reasons(client_for, reviewer, project, make_annotators):
    agree, disagree = ItemFactory(project=project), ItemFactory(project=project)
    u1, u2 = make_annotators(2)
    JudgmentFactory(item=agree, annotator=u1, preference=-1)
    JudgmentFactory(item=agree, annotator=u2, preference=-2)
    JudgmentFactory(item=disagree, annotator=u1, preference=-3)
    JudgmentFactory(item=disagree, annotator=u2, preference=2)
    response = client_for(reviewer).get(f"/projects/{project.id}/review/")
    ids = [i.id for i in response.context["page"]["items"]]
    assert ids == [disagree.id]
    assert "Winner differs" in response.content.decode() and "Strength spread" in response.content.decode()
    assert agree.id not in ids


@pytest.mark.django_db
def test_a_reviewer_sees_each_judgment_and_records_the_final_label(client_for, reviewer, project, make_annotators):
    item, second = ItemFactory(project=project), ItemFactory(project=project)
    u1, u2 = make_annotators(2)
    for judged, pref in ((item, 3), (second, 1)):
        JudgmentFactory(item=judged, annotator=u1, preference=-pref)
        JudgmentFactory(item=judged, annotator=u2, preference=pref)
    c = client_for(reviewer)
    body = c.get(f"/projects/{project.id}/review/{item.id}/").content.decode()
    assert "Response 1 much better" in body and "Response 2 much better" in body
    assert "ann0" in body and "ann1" in body
    response = c.post(f"/projects/{project.id}/review/{item.id}/", {"preference": "-2", "rationale": "1 is right",
                                                                   "next": "1"})
    assert response.status_code == 302 and response["Location"] == f"/projects/{project.id}/review/{second.id}/"
    adjudication = Adjudication.objects.get(item=item)
    assert (adjudication.preference, adjudication.reviewer, adjudication.rationale) == (-2, reviewer, "1 is right")


@pytest.mark.django_db
def test_an_empty_final_label_is_refused(client_for, reviewer, project):
    item = ItemFactory(project=project)
    response = client_for(reviewer).post(f"/projects/{project.id}/review/{item.id}/", {})
    assert response.status_code == 400 and not Adjudication.objects.exists()


@pytest.mark.django_db
def test_review_is_closed_to_annotators_and_outsiders(client_for, annotator, outsider, project):
    item = ItemFactory(project=project)
    assert client_for(annotator).get(f"/projects/{project.id}/review/").status_code == 403
    assert client_for(annotator).post(f"/projects/{project.id}/review/{item.id}/", {"preference": "1"}).status_code \
        == 403
    assert client_for(outsider).get(f"/projects/{project.id}/review/").status_code == 404
    assert client_for(outsider).get(f"/projects/{project.id}/review/{item.id}/").status_code == 404
    assert not Adjudication.objects.exists()


@pytest.mark.django_db
def test_an_item_of_another_project_is_404_even_for_its_reviewer(client_for, reviewer, project):
    other = ItemFactory()
    assert client_for(reviewer).get(f"/projects/{project.id}/items/{other.id}/").status_code == 404
    assert client_for(reviewer).get(f"/projects/{project.id}/review/{other.id}/").status_code == 404
    assert client_for(reviewer).post(f"/projects/{project.id}/review/{other.id}/",
                                     {"preference": "1"}).status_code == 404
    assert not Adjudication.objects.exists()


@pytest.mark.django_db
def test_gold_accuracy_is_shown_on_the_review_page(client_for, reviewer, project, make_annotators):
    from annotator.services import item_set_gold

    item = ItemFactory(project=project)
    item_set_gold(item=item, is_gold=True, preference=-1)
    (u1,) = make_annotators(1)
    JudgmentFactory(item=item, annotator=u1, preference=-3)
    body = client_for(reviewer).get(f"/projects/{project.id}/review/").content.decode()
    assert 'id="gold-accuracy"' in body and "100%" in body
