"""The comparison page and its actions through HTTP: htmx swaps, A/B mapping, security, XSS."""

import re
from html.parser import HTMLParser

import pytest
from django.test import Client

from annotator.models import Assignment, Judgment
from annotator.services import assignment_next_for_user, judgment_submit, project_update
from tests.factories import ItemFactory
from tests.helpers import row, valid_input

HTMX = {"HTTP_HX_REQUEST": "true"}


def _form(assignment, shown_preference: int | None = -1, **extra) -> dict:
    """POST data as the page sends it, answering every criterion."""
    data = valid_input(assignment)
    post = {f"score-{rid}-{cid}": str(int(v)) for (rid, cid), v in data.scores.items()}
    if shown_preference is not None:
        post["preference"] = str(shown_preference)
    post.update({"rationale": "ok", "time_spent_ms": "2500", **extra})
    return post


def _url(project, assignment, action):
    return f"/projects/{project.id}/annotate/{assignment.id}/{action}/"


def _one_leased(client_for, annotator, project):
    """One item, and the annotator's comparison page opened on it: their client and the lease."""
    ItemFactory(project=project)
    c = client_for(annotator)
    c.get(f"/projects/{project.id}/annotate/")
    return c, Assignment.objects.get()


@pytest.mark.django_db
def test_the_page_leases_an_item_and_shows_it_with_the_rubric(client_for, annotator, project):
    ItemFactory(project=project, responses=["First **answer**", "Second answer"])
    response = client_for(annotator).get(f"/projects/{project.id}/annotate/")
    assert response.status_code == 200
    body = response.content.decode()
    assignment = Assignment.objects.get()
    assert 'id="judgment-form"' in body and "Criterion 0" in body and "Criterion 2" in body
    assert "<strong>answer</strong>" in body
    for rid in assignment.shown_order:
        assert f'name="score-{rid}-' in body
    # A is the first response shown, whatever its stored position.
    first = assignment.item.responses.get(pk=assignment.shown_order[0])
    assert body.index(first.content.split()[0]) < body.index(
        assignment.item.responses.exclude(pk=first.pk).get().content.split()[0])


@pytest.mark.django_db
def test_the_page_makes_a_bounded_number_of_queries(client_for, annotator, project, django_assert_max_num_queries):
    for _ in range(3):
        ItemFactory(project=project)
    c = client_for(annotator)
    c.get(f"/projects/{project.id}/annotate/")
    with django_assert_max_num_queries(16):  # 14 today: session, membership, lease, progress, rubric, …
        c.get(f"/projects/{project.id}/annotate/")


@pytest.mark.django_db
def test_a_plain_get_is_a_full_page_and_htmx_gets_the_workspace(client_for, annotator, project):
    ItemFactory(project=project)
    c = client_for(annotator)
    assert "<html" in c.get(f"/projects/{project.id}/annotate/").content.decode()
    partial = c.get(f"/projects/{project.id}/annotate/", **HTMX).content.decode()
    assert "<html" not in partial and partial.lstrip().startswith('<div id="workspace"')


@pytest.mark.django_db
def test_submitting_swaps_in_the_next_item(client_for, annotator, project):
    ItemFactory(project=project, external_id="first")
    ItemFactory(project=project, external_id="second")
    c = client_for(annotator)
    c.get(f"/projects/{project.id}/annotate/")
    a = Assignment.objects.get()
    response = c.post(_url(project, a, "submit"), _form(a), **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Saved." in body and "#second" in body
    assert Judgment.objects.get().item.external_id == "first"


@pytest.mark.django_db
def test_without_htmx_submitting_redirects_to_the_next_item(client_for, annotator, project):
    c, a = _one_leased(client_for, annotator, project)
    response = c.post(_url(project, a, "submit"), _form(a))
    assert response.status_code == 302 and response["Location"] == f"/projects/{project.id}/annotate/"


@pytest.mark.django_db
@pytest.mark.parametrize("order, shown, stored", [("same", -3, -3), ("swapped", -3, 3), ("swapped", 2, -2)])
def test_the_shown_preference_is_stored_relative_to_the_stored_order(client_for, annotator, project, order, shown,
                                                                      stored):
    item = ItemFactory(project=project)
    ids = list(item.responses.order_by("position").values_list("id", flat=True))
    c = client_for(annotator)
    c.get(f"/projects/{project.id}/annotate/")
    a = Assignment.objects.get()
    a.shown_order = ids if order == "same" else ids[::-1]
    a.save()
    c.post(_url(project, a, "submit"), _form(a, shown_preference=shown), **HTMX)
    assert Judgment.objects.get().preference == stored


@pytest.mark.django_db
def test_an_incomplete_form_comes_back_with_the_errors_and_what_was_entered(client_for, annotator, project):
    c, a = _one_leased(client_for, annotator, project)
    post = _form(a, shown_preference=2, rationale="my reasons")
    missing = next(k for k in post if k.startswith("score-"))
    del post[missing]
    body = c.post(_url(project, a, "submit"), post, **HTMX).content.decode()
    assert "required" in body and "my reasons" in body
    assert re.search(r'name="preference" value="2" checked', body)
    assert not Judgment.objects.exists()
    assert c.post(_url(project, a, "submit"), post).status_code == 400
    assert not Judgment.objects.exists() and Assignment.objects.get().status == Assignment.Status.LEASED


@pytest.mark.django_db
def test_a_double_submission_stores_one_judgment(client_for, annotator, project):
    ItemFactory(project=project)
    c, a = _one_leased(client_for, annotator, project)
    c.post(_url(project, a, "submit"), _form(a, shown_preference=-1), **HTMX)
    second = c.post(_url(project, a, "submit"), _form(a, shown_preference=3), **HTMX)
    assert "Already saved" in second.content.decode()
    assert Judgment.objects.count() == 1


@pytest.mark.django_db
def test_skip_and_undo_through_the_page(client_for, annotator, project):
    ItemFactory(project=project, external_id="one")
    ItemFactory(project=project, external_id="two")
    c = client_for(annotator)
    c.get(f"/projects/{project.id}/annotate/")
    a = Assignment.objects.get()
    c.post(_url(project, a, "submit"), _form(a, shown_preference=1, rationale="first thoughts"), **HTMX)
    body = c.post(f"/projects/{project.id}/annotate/undo/", **HTMX).content.decode()
    assert "Undone" in body and "#one" in body and "first thoughts" in body
    assert re.search(r'name="preference" value="1" checked', body)
    assert not Judgment.objects.exists()
    body = c.post(_url(project, a, "skip"), **HTMX).content.decode()
    assert "Skipped" in body and "#two" in body
    assert Assignment.objects.get(pk=a.pk).status == Assignment.Status.SKIPPED


@pytest.mark.django_db
def test_the_heartbeat_keeps_the_lease_and_reports_when_it_is_lost(client_for, annotator, project):
    c, a = _one_leased(client_for, annotator, project)
    response = c.post(_url(project, a, "heartbeat"))
    assert response.status_code == 204 and int(response["X-Lease-Seconds"]) > 29 * 60
    c.post(_url(project, a, "skip"))
    skipped = row(a)
    lost = c.post(_url(project, a, "heartbeat"))
    assert lost.status_code == 409 and lost.json()["error"] == "skipped"
    assert row(a) == skipped


@pytest.mark.django_db
def test_the_empty_queue_says_so(client_for, annotator, project):
    body = client_for(annotator).get(f"/projects/{project.id}/annotate/").content.decode()
    assert "All done here" in body


@pytest.mark.django_db
def test_model_names_are_hidden_from_annotators_unless_the_project_shows_them(client_for, annotator, project):
    ItemFactory(project=project)
    c = client_for(annotator)
    assert "model-0" not in c.get(f"/projects/{project.id}/annotate/").content.decode()
    project_update(project=project, hide_model_identities=False)
    assert "model-0" in c.get(f"/projects/{project.id}/annotate/").content.decode()


@pytest.mark.django_db
def test_an_annotator_never_sees_other_annotators_judgments(client_for, annotator, reviewer, project):
    ItemFactory(project=project)
    a = assignment_next_for_user(project=project, user=reviewer)
    judgment_submit(assignment=a, data=valid_input(a, rationale="SECRET-REVIEWER-RATIONALE"))
    c = client_for(annotator)
    body = c.get(f"/projects/{project.id}/annotate/").content.decode()
    assert "SECRET-REVIEWER-RATIONALE" not in body
    item_id = a.item_id
    assert c.get(f"/projects/{project.id}/items/{item_id}/").status_code == 403
    assert c.get(f"/projects/{project.id}/review/{item_id}/").status_code == 403


@pytest.mark.django_db
def test_outsiders_get_404_from_every_annotation_url(client_for, annotator, outsider, project):
    c, a = _one_leased(client_for, annotator, project)
    leased = row(a)
    o = client_for(outsider)
    assert o.get(f"/projects/{project.id}/annotate/").status_code == 404
    for action in ("submit", "skip", "heartbeat"):
        assert o.post(_url(project, a, action), _form(a)).status_code == 404
    assert o.post(f"/projects/{project.id}/annotate/undo/").status_code == 404
    assert not Judgment.objects.exists()
    assert Assignment.objects.count() == 1 and row(a) == leased


@pytest.mark.django_db
def test_a_member_cannot_submit_someone_elses_assignment(client_for, annotator, reviewer, project):
    ItemFactory(project=project)
    client_for(annotator).get(f"/projects/{project.id}/annotate/")
    a = Assignment.objects.get()
    leased = row(a)
    assert client_for(reviewer).post(_url(project, a, "submit"), _form(a)).status_code == 404
    assert not Judgment.objects.exists() and row(a) == leased


@pytest.mark.django_db
def test_writes_need_the_csrf_token(annotator, project):
    ItemFactory(project=project)
    c = Client(enforce_csrf_checks=True)
    c.force_login(annotator)
    c.get(f"/projects/{project.id}/annotate/")
    a = Assignment.objects.get()
    assert c.post(_url(project, a, "submit"), _form(a)).status_code == 403
    assert c.post(_url(project, a, "skip")).status_code == 403
    assert c.post(f"/projects/{project.id}/annotate/undo/").status_code == 403
    assert not Judgment.objects.exists()
    assert Assignment.objects.get().status == Assignment.Status.LEASED


@pytest.mark.django_db
def test_the_workspace_forms_carry_one_masked_token_that_the_submit_accepts(annotator, project):
    import re

    ItemFactory(project=project)
    ItemFactory(project=project)
    c = Client(enforce_csrf_checks=True)
    c.force_login(annotator)
    page = c.get(f"/projects/{project.id}/annotate/").content.decode()
    a = Assignment.objects.get()
    workspace = page[page.index('id="workspace"'):]
    tokens = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', workspace)
    assert len(tokens) == 3 and len(set(tokens)) == 1  # undo, skip and the judgment form
    answer = c.post(_url(project, a, "submit"), {**_form(a), "csrfmiddlewaretoken": tokens[0]}, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200 and Judgment.objects.count() == 1
    again = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', answer.content.decode())
    assert len(again) == 3 and len(set(again)) == 1 and again[0] != tokens[0]  # masked anew per answer


@pytest.mark.django_db
def test_actions_refuse_get(client_for, annotator, project):
    c, a = _one_leased(client_for, annotator, project)
    leased = row(a)
    assert c.get(_url(project, a, "submit")).status_code == 405
    assert c.get(f"/projects/{project.id}/annotate/undo/").status_code == 405
    assert not Judgment.objects.exists() and row(a) == leased


XSS_RESPONSE = (
    "Look: <script>alert('xss')</script> <img src=x onerror=\"alert(1)\"> "
    "[click me](javascript:alert(2)) <a href=\"/x\" hx-get=\"/api/v1/projects/\" hx-trigger=\"load\">htmx</a> "
    "<div onmouseover=\"alert(3)\">hover</div>"
)
XSS_MARKDOWN = (
    "[markdown link](javascript:alert(4)) and ![img](javascript:alert(5)) and <javascript:alert(6)>\n\n"
    "```html\n<script>alert(7)</script>\n```"
)


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _UserContent(HTMLParser):
    """Collects every element inside rendered user content (class="md": prompts, responses, rationales)."""

    def __init__(self):
        super().__init__()
        self.stack: list[bool] = []  # per open element: inside user content?
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        inside = bool(self.stack and self.stack[-1])
        if inside:
            self.tags.append((tag, attrs))
        if tag not in VOID:
            classes = (attrs.get("class") or "").split()
            self.stack.append(inside or "md" in classes)

    def handle_endtag(self, tag):
        if tag not in VOID and self.stack:
            self.stack.pop()


def rendered_user_content(body: str) -> list[tuple[str, dict]]:
    parser = _UserContent()
    parser.feed(body)
    return parser.tags


def assert_inert(tags):
    assert tags, "no rendered content found"
    for tag, attrs in tags:
        assert tag not in ("script", "img", "iframe", "object", "embed", "style"), tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert not name.startswith(("hx-", "data-hx")), (tag, name)
            assert not (value or "").strip().lower().startswith(("javascript:", "data:", "vbscript:")), (tag, value)


@pytest.mark.django_db
def test_script_event_handlers_javascript_links_and_hx_attributes_in_content_are_inert(client_for, annotator,
                                                                                      project):
    ItemFactory(project=project, prompt=[{"role": "user", "content": "<script>alert('prompt')</script> hi"}],
                responses=[XSS_RESPONSE, XSS_MARKDOWN + "\n\nPlain [link](https://example.org)"])
    body = client_for(annotator).get(f"/projects/{project.id}/annotate/").content.decode()
    tags = rendered_user_content(body)
    assert_inert(tags)
    assert ("a", {"href": "https://example.org", "rel": "noopener noreferrer nofollow"}) in tags
    assert "&lt;script&gt;alert(&#x27;xss&#x27;)" in body or "&lt;script&gt;alert('xss')" in body  # shown as text


@pytest.mark.django_db
def test_content_is_inert_on_the_review_and_item_pages_too(client_for, annotator, reviewer, project):
    ItemFactory(project=project, responses=[XSS_RESPONSE, XSS_MARKDOWN])
    a = assignment_next_for_user(project=project, user=annotator)
    judgment_submit(assignment=a, data=valid_input(a, rationale=XSS_RESPONSE))
    c = client_for(reviewer)
    for url in (f"/projects/{project.id}/review/{a.item_id}/", f"/projects/{project.id}/items/{a.item_id}/"):
        body = c.get(url).content.decode()
        assert_inert(rendered_user_content(body))
        assert "<script>alert" not in body


@pytest.mark.django_db
def test_the_project_page_links_every_part_by_role(client_for, annotator, project_admin, project):
    body = client_for(annotator).get(f"/projects/{project.id}/").content.decode()
    assert f"/projects/{project.id}/annotate/" in body
    assert f"/projects/{project.id}/review/" not in body and f"/projects/{project.id}/import/" not in body
    body = client_for(project_admin).get(f"/projects/{project.id}/").content.decode()
    for url in ("annotate/", "review/", "items/", "import/", "members/", "settings/", "export/"):
        assert f"/projects/{project.id}/{url}" in body
    assert f"/scoring/projects/{project.id}/runs/" in body


@pytest.mark.django_db
def test_three_or_more_responses_are_ranked_on_the_page(client_for, annotator, project):
    ItemFactory(project=project, responses=["one", "two", "three", "four"])
    c = client_for(annotator)
    body = c.get(f"/projects/{project.id}/annotate/").content.decode()
    assert 'data-mode="rank"' in body and 'name="preference"' not in body
    a = Assignment.objects.get()
    post = _form(a, shown_preference=None)
    order = a.shown_order  # rank them as shown, C first
    for rank, rid in enumerate([order[2], order[0], order[1], order[3]], start=1):
        post[f"rank-{rid}"] = str(rank)
    c.post(_url(project, a, "submit"), post, **HTMX)
    assert Judgment.objects.get().ranking == [order[2], order[0], order[1], order[3]]


@pytest.mark.django_db
def test_an_incomplete_ranking_is_refused(client_for, annotator, project):
    ItemFactory(project=project, responses=["one", "two", "three"])
    c = client_for(annotator)
    c.get(f"/projects/{project.id}/annotate/")
    a = Assignment.objects.get()
    post = _form(a, shown_preference=None, **{f"rank-{a.shown_order[0]}": "1", f"rank-{a.shown_order[1]}": "1"})
    body = c.post(_url(project, a, "submit"), post, **HTMX).content.decode()
    assert "rank every response exactly once" in body and not Judgment.objects.exists()


@pytest.mark.django_db
def test_a_project_without_a_rubric_asks_only_for_the_preference(client_for, annotator, project):
    project_update(project=project, rubric_version=None)
    ItemFactory(project=project)
    c = client_for(annotator)
    body = c.get(f"/projects/{project.id}/annotate/").content.decode()
    assert 'name="score-' not in body and 'name="preference"' in body
    a = Assignment.objects.get()
    c.post(_url(project, a, "submit"), {"preference": "2"}, **HTMX)
    judgment = Judgment.objects.get()
    assert judgment.rubric_version is None and abs(judgment.preference) == 2
    assert not judgment.criterion_scores.exists()


@pytest.mark.django_db
def test_model_scores_show_while_annotating_only_when_the_project_allows(client_for, annotator, project):
    ItemFactory(project=project)
    c = client_for(annotator)
    assert 'aria-label="Model scores"' not in c.get(f"/projects/{project.id}/annotate/").content.decode()
    project_update(project=project, show_model_scores=True)
    assert 'aria-label="Model scores"' in c.get(f"/projects/{project.id}/annotate/").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("n_responses", [2, 3])
def test_the_grid_of_an_unanswered_item_is_rendered_once_and_given_each_items_response_ids(
        client_for, annotator, project, n_responses):
    """The comparison page keeps the empty rubric grid of a frozen version per process (issue 11): for
    every item it is exactly the partial rendered for that item's responses."""
    from django.template.loader import render_to_string

    from annotator.forms import criteria_grid
    from annotator.selectors import criteria_for_project, responses_in_shown_order

    for _ in range(3):
        ItemFactory(project=project, responses=[f"answer {i}" for i in range(n_responses)])
    c = client_for(annotator)
    body = c.get(f"/projects/{project.id}/annotate/").content.decode()
    for _ in range(3):  # the first from a fresh render, the others from the kept one
        a = Assignment.objects.filter(status="leased").get()
        responses = responses_in_shown_order(item=a.item, shown_order=a.shown_order)
        grid = criteria_grid(criteria_for_project(project=project), responses)
        assert render_to_string("annotator/_criteria.html", {"grid": grid}, using="jinja2") in body
        assert "\x00" not in body
        ranks = {f"rank-{r.id}": str(i + 1) for i, r in enumerate(responses)} if n_responses > 2 else {}
        body = c.post(_url(project, a, "submit"), _form(a, shown_preference=None if ranks else -1, **ranks),
                      **HTMX).content.decode()
        assert "Saved." in body


@pytest.mark.django_db
def test_a_grid_with_answers_shows_them_after_an_error(client_for, annotator, project):
    c, a = _one_leased(client_for, annotator, project)
    form = _form(a)
    first_score = next(k for k in form if k.startswith("score-"))
    del form["preference"]  # missing: the workspace comes back with what was entered
    body = c.post(_url(project, a, "submit"), form, **HTMX).content.decode()
    assert f'name="{first_score}" value="{form[first_score]}" checked' in body
