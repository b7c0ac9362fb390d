"""The rubric API under /api/v1/rubric-sets/."""

import json

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from rubrics.models import Criterion, RubricSet, RubricVersion
from tests.helpers import counts, row

BASE = "/api/v1/rubric-sets/"


@pytest.fixture
def api():
    def make(user):
        c = APIClient()
        c.force_authenticate(user)
        return c
    return make


def test_staff_create_a_set_with_its_first_draft(api, alice):
    response = api(alice).post(BASE, {"name": "Helpfulness", "criteria": [
        {"key": "helps", "title": "Helps", "points": 3}, {"key": "harms", "title": "Harms", "points": -2}]},
        format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["rubric_set"], body["number"], body["status"], body["revision"]) == ("helpfulness", 1, "draft", 1)
    assert [c["importance"] for c in body["criteria"]] == ["important", "pitfall"]


def test_a_bad_criterion_in_create_is_named_by_its_path(api, alice):
    response = api(alice).post(BASE, {"name": "X", "criteria": [{"key": "a", "title": "A"},
                                                                {"key": "b", "title": "B", "points": "3"}]},
                               format="json")
    assert response.status_code == 400
    assert response.json()["fields"] == {"criteria[1].points": "must be a number"}
    assert response.json()["message"] == "criteria[1].points: must be a number"
    assert not RubricSet.objects.exists()


def test_list_and_retrieve_with_versions(api, alice, published):
    listed = api(alice).get(BASE).json()
    assert [s["slug"] for s in listed] == ["quality"] and listed[0]["latest_published"] == 1
    detail = api(alice).get(BASE + "quality/").json()
    assert detail["versions"][0]["number"] == 1 and detail["versions"][0]["criterion_count"] == 3
    version = api(alice).get(BASE + "quality/versions/1/").json()
    assert [c["key"] for c in version["criteria"]] == ["accurate", "clear", "fabricates"]
    assert version["content_hash"] == published.content_hash


def test_draft_update_publish_cycle_with_a_conflict_in_between(api, alice, bob, published):
    created = api(alice).post(BASE + "quality/versions/", {"from_version": 1}, format="json")
    assert created.status_code == 201 and created.json()["based_on"] == 1
    draft = created.json()
    criteria = [{k: c[k] for k in ("key", "title", "guidance", "kind", "importance", "points", "scale", "tags")}
                for c in draft["criteria"]]
    # Both read revision 1; Bob saves first.
    bobs = [dict(criteria[0], points=6), *criteria[1:]]
    ok = api(bob).put(BASE + "quality/versions/2/", {"revision": 1, "criteria": bobs}, format="json")
    assert ok.status_code == 200 and ok.json()["revision"] == 2
    alices = [*criteria, {"key": "new", "title": "New", "points": 1}]
    v2 = RubricVersion.objects.get(rubric_set__slug="quality", number=2)
    saved_by_bob = row(v2), list(v2.criteria.values_list("key", "points"))
    conflict = api(alice).put(BASE + "quality/versions/2/", {"revision": 1, "criteria": alices}, format="json")
    assert conflict.status_code == 409
    assert (row(v2), list(v2.criteria.values_list("key", "points"))) == saved_by_bob
    body = conflict.json()
    assert body["error"] == "conflict" and body["current_revision"] == 2
    assert body["changes"][0]["actor"] == "bob" and "points 5 → 6" in body["changes"][0]["summary"]
    # Alice merges and retries with the revision she now knows: nothing lost.
    merged = [*bobs, {"key": "new", "title": "New", "points": 1}]
    assert api(alice).put(BASE + "quality/versions/2/", {"revision": 2, "criteria": merged},
                          format="json").status_code == 200
    merged_draft = row(v2)
    stale = api(alice).post(BASE + "quality/versions/2/publish/", {"revision": 1}, format="json")
    assert stale.status_code == 409 and row(v2) == merged_draft
    published2 = api(alice).post(BASE + "quality/versions/2/publish/", {"revision": 3}, format="json")
    assert published2.status_code == 200 and published2.json()["status"] == "published"
    frozen = row(v2), counts(Criterion)
    again = api(alice).put(BASE + "quality/versions/2/", {"revision": 3, "criteria": merged}, format="json")
    assert again.status_code == 409 and (row(v2), counts(Criterion)) == frozen


def test_update_requires_the_revision(api, alice, draft):
    before = row(draft), counts(Criterion)
    response = api(alice).put(BASE + "quality/versions/1/", {"criteria": []}, format="json")
    assert response.status_code == 400 and response.json()["fields"] == {"revision": "must be an integer"}
    assert (row(draft), counts(Criterion)) == before


def test_export_in_each_syntax_and_form(api, alice, published):
    c = api(alice)
    as_json = c.get(BASE + "quality/versions/1/export/")
    assert as_json["Content-Type"].startswith("application/json")
    assert json.loads(as_json.content)["version"]["content_hash"] == published.content_hash
    as_yaml = yaml.safe_load(c.get(BASE + "quality/versions/1/export/?syntax=yaml").content)
    assert as_yaml["version"]["criteria"][0]["key"] == "accurate"
    hb = json.loads(c.get(BASE + "quality/versions/1/export/?form=healthbench").content)
    assert hb[2] == {"criterion": "Fabricates a source", "points": -4, "tags": []}
    assert c.get(BASE + "quality/versions/1/export/?syntax=xml").status_code == 400


@pytest.mark.parametrize("how", ["document", "content", "file"])
def test_import_round_trip_keeps_the_content_hash(api, alice, published, how):
    c = api(alice)
    text = c.get(BASE + "quality/versions/1/export/?syntax=yaml").content.decode()
    options = {"slug": f"copy-{how}", "publish": True}
    if how == "document":
        response = c.post(BASE + "import/", {"document": yaml.safe_load(text), **options}, format="json")
    elif how == "content":
        response = c.post(BASE + "import/", {"content": text, **options}, format="json")
    else:
        upload = SimpleUploadedFile("rubric.yaml", text.encode(), content_type="application/yaml")
        response = c.post(BASE + "import/", {"file": upload, "slug": f"copy-{how}", "publish": "true"},
                          format="multipart")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["content_hash"] == published.content_hash and body["source_hash_matches"] is True


def test_import_of_a_bad_document_names_the_path_and_creates_nothing(api, alice):
    response = api(alice).post(BASE + "import/", {"name": "X", "document": {"hard_rules": ["ok", {"text": ""}]}},
                               format="json")
    assert response.status_code == 400
    assert response.json()["fields"] == {"hard_rules[1].text": "is required"}
    assert not RubricSet.objects.exists()


def test_import_as_a_new_version_of_an_existing_set(api, alice, published):
    response = api(alice).post(BASE + "import/", {"rubric_set": "quality", "document": [
        {"criterion": "Answers in one line.", "points": 2, "tags": []}]}, format="json")
    assert response.status_code == 201 and response.json()["number"] == 2


def test_diff_and_history(api, alice, published):
    c = api(alice)
    draft = c.post(BASE + "quality/versions/", {}, format="json").json()
    criteria = [{k: x[k] for k in ("key", "title", "points")} for x in draft["criteria"]][:2]
    c.put(BASE + "quality/versions/2/", {"revision": 1, "criteria": criteria}, format="json")
    diff = c.get(BASE + "quality/versions/1/diff/2/").json()
    assert [r["key"] for r in diff["removed"]] == ["fabricates"]
    history = c.get(BASE + "quality/history/").json()
    assert history[0]["actor"] == "alice"
    assert history[0]["summary"].startswith("replaced the content: removed `fabricates`; changed `clear`: scale")


def test_archive_discard_and_one_draft_per_set(api, alice, published):
    c = api(alice)
    assert c.post(BASE + "quality/versions/1/archive/").json()["status"] == "archived"
    assert c.post(BASE + "quality/versions/1/unarchive/").json()["status"] == "published"
    assert c.post(BASE + "quality/versions/", {}, format="json").status_code == 201
    assert c.post(BASE + "quality/versions/", {}, format="json").status_code == 409
    assert RubricVersion.objects.filter(rubric_set__slug="quality").count() == 2
    assert c.delete(BASE + "quality/versions/2/").status_code == 204
    first = row(published)
    assert c.delete(BASE + "quality/versions/1/").status_code == 409
    assert RubricVersion.objects.filter(rubric_set__slug="quality").count() == 1 and row(published) == first


def test_an_annotator_reads_their_pinned_version_but_cannot_write(api, annotator, rubric_version):
    c = api(annotator)
    slug = rubric_version.rubric_set.slug
    before = row(rubric_version), counts(RubricSet, RubricVersion, Criterion)
    assert c.get(BASE).json()[0]["slug"] == slug
    assert c.get(f"{BASE}{slug}/versions/{rubric_version.number}/").status_code == 200
    assert c.get(f"{BASE}{slug}/versions/{rubric_version.number}/export/").status_code == 200
    assert c.post(f"{BASE}{slug}/versions/", {}, format="json").status_code == 403
    assert c.post(f"{BASE}{slug}/versions/{rubric_version.number}/archive/").status_code == 403
    assert c.post(BASE, {"name": "Mine"}, format="json").status_code == 403
    assert c.post(BASE + "import/", {"document": []}, format="json").status_code == 403
    assert c.get(f"{BASE}{slug}/history/").status_code == 403
    assert (row(rubric_version), counts(RubricSet, RubricVersion, Criterion)) == before


def test_an_outsider_gets_404_for_a_set_and_its_versions(api, outsider, rubric_version, draft):
    c = api(outsider)
    slug = rubric_version.rubric_set.slug
    assert c.get(BASE).json() == []
    for path in [f"{BASE}{slug}/", f"{BASE}{slug}/versions/1/", f"{BASE}{slug}/versions/1/export/",
                 f"{BASE}{slug}/versions/1/diff/1/", f"{BASE}quality/", f"{BASE}quality/versions/1/"]:
        assert c.get(path).status_code == 404, path
    before = row(draft), counts(Criterion)
    assert c.post(f"{BASE}quality/versions/1/publish/", {}, format="json").status_code == 404
    assert c.put(f"{BASE}quality/versions/1/", {"revision": 1, "criteria": []}, format="json").status_code == 404
    assert (row(draft), counts(Criterion)) == before


def test_anonymous_requests_are_refused(client, published):
    assert client.get(BASE).status_code in (401, 403)
    assert client.post(BASE, {"name": "Anon"}, content_type="application/json").status_code in (401, 403)
    assert RubricSet.objects.count() == 1


def test_the_schema_documents_every_operation(client):
    schema = yaml.safe_load(client.get("/api/v1/schema/").content)
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/rubric-sets/"])
    assert {"get", "put", "delete"} <= set(paths["/api/v1/rubric-sets/{slug}/versions/{number}/"])
    for suffix in ("publish/", "export/", "archive/"):
        assert f"/api/v1/rubric-sets/{{slug}}/versions/{{number}}/{suffix}" in paths
    assert "post" in paths["/api/v1/rubric-sets/import/"]
