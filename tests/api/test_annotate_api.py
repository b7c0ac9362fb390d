"""The annotation API (issue 14): next, submit, skip, heartbeat for scripts, on the page's own queue."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.services import api_token_create
from annotator.models import Assignment, Item, Judgment
from tests.factories import ItemFactory, MembershipFactory, UserFactory


def api(client, user):
    _, raw = api_token_create(user=user, name="script")
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    return client


def next_url(project):
    return f"/api/v1/projects/{project.id}/annotate/next"


def answer(assignment: dict, preference=-2, **extra) -> dict:
    """A complete judgment of what `next` returned: every criterion scored for every response."""
    value = {"binary": 1, "likert5": 4, "points": 0}
    scores = [{"response": r["id"], "criterion": c["id"], "value": value[c["scale"]]}
              for r in assignment["responses"] for c in assignment["criteria"]]
    return {"preference": preference, "scores": scores, "rationale": "Because.", "time_spent_ms": 1500, **extra}


@pytest.fixture
def script(client, annotator):
    return api(client, annotator)


@pytest.mark.django_db
def test_next_leases_an_item_with_its_responses_as_shown_and_the_rubric(project, script, annotator):
    item = ItemFactory(project=project)
    body = script.post(next_url(project)).json()
    got = body["assignment"]
    assignment = Assignment.objects.get(annotator=annotator)
    assert body["queue"] is None and got["id"] == assignment.id and got["item"]["external_id"] == item.external_id
    assert [r["id"] for r in got["responses"]] == assignment.shown_order
    assert [r["label"] for r in got["responses"]] == ["A", "B"]
    assert all(r["model"] is None for r in got["responses"])  # the project hides model identities
    assert [c["key"] for c in got["criteria"]] == ["c0", "c1", "c2"]
    assert 0 < got["lease_seconds"] <= project.lease_minutes * 60
    assert got["submit_url"].endswith(f"/assignments/{assignment.id}/submit")
    # Asking again keeps the same lease, as reloading the page does.
    assert script.post(next_url(project)).json()["assignment"]["id"] == assignment.id


@pytest.mark.django_db
def test_submit_reads_the_preference_on_the_shown_scale_and_is_idempotent(project, script):
    ItemFactory(project=project)
    got = script.post(next_url(project)).json()["assignment"]
    first_shown_is_response_1 = got["responses"][0]["id"] == min(r["id"] for r in got["responses"])
    response = script.post(got["submit_url"], answer(got, preference=-2), content_type="application/json")
    assert response.status_code == 201, response.content
    judgment = Judgment.objects.get()
    # −2 = A better; stored relative to the stored order.
    assert judgment.preference == (-2 if first_shown_is_response_1 else 2)
    assert response.json()["preference"] == judgment.preference
    again = script.post(got["submit_url"], answer(got, preference=3), content_type="application/json")
    assert again.status_code == 200 and again.json() == {**response.json(), "created": False}
    assert Judgment.objects.count() == 1 and Judgment.objects.get().preference == judgment.preference


@pytest.mark.django_db
def test_submit_validates_like_the_page(project, script):
    ItemFactory(project=project)
    got = script.post(next_url(project)).json()["assignment"]
    incomplete = answer(got)
    incomplete["scores"] = incomplete["scores"][1:]
    response = script.post(got["submit_url"], incomplete, content_type="application/json")
    assert response.status_code == 400
    missing = answer(got)["scores"][0]
    assert f"score-{missing['response']}-{missing['criterion']}" in response.json()["fields"]
    bad = script.post(got["submit_url"], answer(got, preference=9), content_type="application/json")
    assert bad.status_code == 400 and "preference" in bad.json()["fields"]
    assert not Judgment.objects.exists()


@pytest.mark.django_db
def test_skip_frees_the_item_and_a_skipped_item_cannot_be_submitted(project, script):
    ItemFactory(project=project)
    got = script.post(next_url(project)).json()["assignment"]
    assert script.post(got["skip_url"]).json() == {"assignment_id": got["id"], "status": "skipped"}
    late = script.post(got["submit_url"], answer(got), content_type="application/json")
    assert late.status_code == 409 and late.json()["error"] == "skipped"
    body = script.post(next_url(project)).json()
    assert body == {"assignment": None, "queue": {"open_items": 0, "leased_by_others": 0}}


@pytest.mark.django_db
def test_heartbeat_extends_the_lease_and_says_when_it_went_to_someone_else(project, script, annotator):
    ItemFactory(project=project)
    project.overlap = 1
    project.save()
    got = script.post(next_url(project)).json()["assignment"]
    Assignment.objects.filter(pk=got["id"]).update(lease_expires_at=timezone.now() + timedelta(seconds=5))
    beat = script.post(got["heartbeat_url"]).json()
    assert beat["assignment_id"] == got["id"] and beat["lease_seconds"] > 60
    # The lease runs out and another annotator takes the only slot.
    Assignment.objects.filter(pk=got["id"]).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    other = UserFactory(username="other")
    MembershipFactory(project=project, user=other)
    from annotator.services import assignment_next_for_user

    assert assignment_next_for_user(project=project, user=other) is not None
    late = script.post(got["heartbeat_url"])
    assert late.status_code == 409 and late.json()["error"] == "expired"


@pytest.mark.django_db
def test_the_same_role_rules_as_the_page(project, client, outsider, annotator):
    ItemFactory(project=project)
    assert api(client, outsider).post(next_url(project)).status_code == 404
    mine = api(client, annotator).post(next_url(project)).json()["assignment"]
    for action in ("submit", "skip", "heartbeat"):
        # Someone else's assignment is nobody's business: 404, as on the page.
        url = f"/api/v1/projects/{project.id}/assignments/{mine['id']}/{action}"
        assert api(client, outsider).post(url, {}, content_type="application/json").status_code == 404
    stranger = UserFactory(username="stranger")
    MembershipFactory(project=project, user=stranger)
    url = f"/api/v1/projects/{project.id}/assignments/{mine['id']}/skip"
    assert api(client, stranger).post(url).status_code == 404
    assert Assignment.objects.get(pk=mine["id"]).status == Assignment.Status.LEASED


@pytest.mark.django_db
def test_a_script_and_a_browser_annotator_share_one_queue_without_breaking_the_overlap(
        project, client, client_for, annotator):
    from tests.helpers import valid_input

    project.overlap, project.randomize_order = 2, True
    project.save()
    items = [ItemFactory(project=project) for _ in range(3)]
    browser = client_for(annotator)
    scripted, third = UserFactory(username="bot"), UserFactory(username="third")
    for user in (scripted, third):
        MembershipFactory(project=project, user=user)
    script = api(client, scripted)
    from annotator.services import assignment_next_for_user, judgment_submit

    # The browser opens the page (leases item 1); the script leases the same item as the second slot.
    assert browser.get(f"/projects/{project.id}/annotate/").status_code == 200
    page_assignment = Assignment.objects.get(annotator=annotator)
    got = script.post(next_url(project)).json()["assignment"]
    assert got["item"]["id"] == page_assignment.item_id == items[0].id
    # Two live leases fill item 1: a third annotator gets item 2, not a third slot on item 1.
    assert assignment_next_for_user(project=project, user=third).item_id == items[1].id
    # Both submit; the item has exactly `overlap` judgments and leaves the queue.
    assert script.post(got["submit_url"], answer(got), content_type="application/json").status_code == 201
    judgment_submit(assignment=page_assignment, data=valid_input(page_assignment))
    first = Item.objects.get(pk=items[0].pk)
    assert (first.submitted_count, first.is_open) == (2, False)
    # The script moves on to the item the third annotator holds (one slot left there), never item 1 again.
    got = script.post(next_url(project)).json()["assignment"]
    assert got["item"]["id"] == items[1].id
    assert Judgment.objects.filter(item=items[0]).count() == 2


@pytest.mark.django_db
def test_the_annotation_api_is_in_the_openapi_schema(client, annotator):
    schema = api(client, annotator).get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()
                  if isinstance(op, dict) and "operationId" in op}
    assert {"annotate_next", "annotate_submit", "annotate_skip", "annotate_heartbeat",
            "judgments_import"} <= operations
