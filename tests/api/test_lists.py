"""Items and judgments lists: keyset pages, filters, roles, query counts; the project endpoints."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import ItemFactory
from tests.helpers import T0, make_judgment

pytestmark = pytest.mark.django_db


def walk_pages(client, url, **params) -> tuple[list, int]:
    rows, pages = [], 0
    response = client.get(url, params)
    while True:
        assert response.status_code == 200, response.content
        data = response.json()
        rows += data["results"]
        pages += 1
        if not data["next"]:
            return rows, pages
        response = client.get(data["next"])


def test_items_come_in_keyset_pages_without_gaps_or_repeats(client_for, project_admin, project):
    items = [ItemFactory(project=project) for _ in range(7)]
    rows, pages = walk_pages(client_for(project_admin), f"/api/v1/projects/{project.id}/items/", page_size=3)
    assert [r["id"] for r in rows] == [i.id for i in items]
    assert pages == 3


def test_a_keyset_page_is_stable_when_rows_are_added_before_it(client_for, project_admin, project):
    client = client_for(project_admin)
    first = [ItemFactory(project=project) for _ in range(4)]
    page = client.get(f"/api/v1/projects/{project.id}/items/", {"page_size": 2}).json()
    ItemFactory(project=project)  # a new item lands at the end, never inside a page already handed out
    second = client.get(page["next"]).json()
    assert [r["id"] for r in second["results"]] == [first[2].id, first[3].id]


def test_an_item_lists_its_responses_in_stored_order(client_for, project_admin, project):
    item = ItemFactory(project=project, responses=["first", "second", "third"])
    data = client_for(project_admin).get(f"/api/v1/projects/{project.id}/items/{item.id}/").json()
    assert [r["content"] for r in data["responses"]] == ["first", "second", "third"]
    assert [r["position"] for r in data["responses"]] == [0, 1, 2]
    assert data["responses"][0]["model_name"] == "model-0"
    assert data["prompt"] == [{"role": "user", "content": "Say hello."}]


@pytest.mark.parametrize("query", ["", "?is_gold=true", "?is_gold=false"])
def test_annotators_cannot_read_items_gold_flags_or_import_positions(client_for, annotator, reviewer, project, query):
    """Security finding 3: `?is_gold=true` with an annotator's token listed the gold items, and TRL imports'
    response ids (`…chosen`/`…rejected`) and positions gave the label away. Items are for staff."""
    item = ItemFactory(project=project, is_gold=True)
    assert client_for(annotator).get(f"/api/v1/projects/{project.id}/items/{query}").status_code == 403
    assert client_for(annotator).get(f"/api/v1/projects/{project.id}/items/{item.id}/").status_code == 403
    listed = client_for(reviewer).get(f"/api/v1/projects/{project.id}/items/{query}").json()["results"]
    assert [r["is_gold"] for r in listed] == ([] if query.endswith("false") else [True])


def test_items_filter_by_external_id_and_judgment_count(client_for, labeled):
    client = client_for(labeled.admin)
    url = f"/api/v1/projects/{labeled.project.id}/items/"
    assert [r["external_id"] for r in client.get(url, {"external_id": "tie"}).json()["results"]] == ["tie"]
    two = [r["external_id"] for r in client.get(url, {"min_judgments": 2, "page_size": 50}).json()["results"]]
    assert "single" not in two and "agree-first" in two and "unjudged" not in two


def test_the_items_list_runs_a_fixed_number_of_queries(client_for, project_admin, project):
    client = client_for(project_admin)
    url = f"/api/v1/projects/{project.id}/items/"
    ItemFactory(project=project)
    client.get(url)  # warm the session and the content types
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for _ in range(20):
        ItemFactory(project=project, responses=["a", "b", "c"])
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(url).json()["results"]) == 21
    assert len(many) == len(few) <= 6


def test_admins_and_reviewers_see_every_judgment(client_for, labeled):
    for user in (labeled.admin, labeled.reviewer):
        rows, _ = walk_pages(client_for(user), f"/api/v1/projects/{labeled.project.id}/judgments/", page_size=5)
        assert len(rows) == 16


def test_an_annotator_sees_only_their_own_judgments(client_for, labeled):
    rows, _ = walk_pages(client_for(labeled.ann2), f"/api/v1/projects/{labeled.project.id}/judgments/")
    assert {r["annotator"] for r in rows} == {"ann2"} and len(rows) == 7
    other = labeled.judgments["agree-first"][0]
    response = client_for(labeled.ann2).get(f"/api/v1/projects/{labeled.project.id}/judgments/{other.id}/")
    assert response.status_code == 404


def test_a_judgment_shows_its_scores_order_and_version(client_for, labeled):
    j = labeled.judgments["agree-first"][1]
    data = client_for(labeled.admin).get(f"/api/v1/projects/{labeled.project.id}/judgments/{j.id}/").json()
    r0, r1 = labeled.responses("agree-first")
    assert data["item"] == {"id": labeled.items["agree-first"].id, "external_id": "agree-first"}
    assert data["annotator"] == "ann2" and data["preference"] == -3
    assert data["shown_order"] == [r1.id, r0.id]
    assert data["rubric_version"] == f"{labeled.version.rubric_set.slug}@v{labeled.version.number}"
    assert data["criterion_scores"][:3] == [
        {"response_id": r0.id, "criterion": "c0", "value": 1.0},
        {"response_id": r0.id, "criterion": "c1", "value": 4.0},
        {"response_id": r0.id, "criterion": "c2", "value": 0.0},
    ]
    assert data["submitted_at"].startswith("2025-03-01T12:01:00")


@pytest.mark.parametrize("params, expected", [
    ({"annotator": "ann2"}, 7),
    ({"external_id": "agree-first"}, 2),
    ({"both_bad": "true"}, 2),
    ({"submitted_after": "2025-03-01T18:30:00Z"}, 3),
    ({"submitted_before": "2025-03-01T12:30:00Z"}, 2),
])
def test_judgments_filter(client_for, labeled, params, expected):
    rows, _ = walk_pages(client_for(labeled.admin), f"/api/v1/projects/{labeled.project.id}/judgments/", **params)
    assert len(rows) == expected


def test_judgments_filter_by_item_and_rubric_version(client_for, labeled):
    client = client_for(labeled.admin)
    url = f"/api/v1/projects/{labeled.project.id}/judgments/"
    assert len(client.get(url, {"item": labeled.items["ranked"].id}).json()["results"]) == 2
    rows = client.get(url, {"rubric_version": labeled.other_version.id}).json()["results"]
    assert [r["item"]["external_id"] for r in rows] == ["old-rubric"]


def test_a_bad_filter_is_a_400_naming_the_field(client_for, labeled):
    response = client_for(labeled.admin).get(f"/api/v1/projects/{labeled.project.id}/judgments/",
                                             {"submitted_after": "soon"})
    assert response.status_code == 400
    assert "submitted_after" in response.json()["fields"]


def test_a_forged_cursor_is_rejected(client_for, labeled):
    response = client_for(labeled.admin).get(f"/api/v1/projects/{labeled.project.id}/judgments/",
                                             {"cursor": "not-a-cursor"})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_the_judgments_list_runs_a_fixed_number_of_queries(client_for, labeled):
    client = client_for(labeled.admin)
    url = f"/api/v1/projects/{labeled.project.id}/judgments/"
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for i in range(10):
        item = ItemFactory(project=labeled.project, external_id=f"extra-{i}")
        make_judgment(item, labeled.reviewer, preference=1, at=T0)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(url).json()["results"]) == 26
    assert len(many) == len(few) <= 6


def test_the_project_list_has_my_role(client_for, labeled):
    data = client_for(labeled.reviewer).get("/api/v1/projects/").json()
    assert [(p["id"], p["role"]) for p in data] == [(labeled.project.id, "reviewer")]
    detail = client_for(labeled.reviewer).get(f"/api/v1/projects/{labeled.project.id}/").json()
    assert detail["role"] == "reviewer" and detail["rubric_version"]["id"] == labeled.version.id
