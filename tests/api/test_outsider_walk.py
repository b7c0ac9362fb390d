"""Every route under /api/v1/, walked generically: an outsider gets 404 for everything of a project
they do not belong to, whatever the method, and no list ever holds another project's rows.

Routes come from the URL conf, so a route another app adds tomorrow is walked too. Path parameters
are filled from FILL (one entry per parameter name): a new parameter name fails the test with a
message saying what to add.
"""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import get_resolver
from django.urls.resolvers import RoutePattern, URLResolver
from django.utils import timezone

from accounts.services import api_token_create
from annotator.models import Adjudication, ProjectMembership
from exports.models import ExportJob
from rubrics.models import RubricSet
from scoring.models import CriterionScore, ResponseScore, ScoringRun
from tests.factories import (
    ItemFactory,
    MembershipFactory,
    ProjectFactory,
    ScorerFactory,
    UserFactory,
    published_version,
)
from tests.helpers import make_judgment

pytestmark = pytest.mark.django_db

MARKER = "VICTIM-MARKER"
METHODS = ("get", "post", "put", "patch", "delete")
# Routes that describe the API itself, not anyone's data.
SELF_DESCRIBING = {"api/v1/schema/", "api/v1/docs/"}


def api_routes():
    """(route, view class or function) for every URL pattern under api/v1/."""
    def walk(patterns, prefix):
        for p in patterns:
            route = prefix + str(p.pattern)
            if not (route.startswith("api/v1/") or "api/v1/".startswith(route)):
                continue
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, route)
            else:
                if not isinstance(p.pattern, RoutePattern):
                    pytest.fail(f"{prefix}{p.pattern}: a regex route; teach this test its parameters")
                yield prefix + str(p.pattern), p.callback

    return [(route, cb) for route, cb in walk(get_resolver().url_patterns, "") if route.startswith("api/v1/")]


def methods_of(callback) -> list[str]:
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is None:
        return list(METHODS)  # a plain function view: try them all
    return [m for m in METHODS if hasattr(cls, m)]


def parameters(route: str) -> list[str]:
    return [part.split(">")[0].split(":")[-1] for part in route.split("<")[1:]]


def fill(route: str, values: dict) -> str:
    for name in parameters(route):
        if name not in values:
            pytest.fail(f"{route}: no fill-in for the path parameter {name!r}; add it to the victim in this test")
        route = route.replace(route[route.index("<"):route.index(">") + 1], str(values[name]), 1)
    return "/" + route


@pytest.fixture
def victim(rubric_version):
    """A project the outsider does not belong to, with one of everything, all named with MARKER."""
    rubric_set = RubricSet.objects.create(name=f"{MARKER} rubric", slug="victim-marker-rubric")
    version = published_version(criteria=2, rubric_set=rubric_set)
    project = ProjectFactory(name=f"{MARKER} project", description=MARKER, rubric_version=version)
    owner = UserFactory(username="victim-owner")
    MembershipFactory(project=project, user=owner, role=ProjectMembership.Role.ADMIN)
    item = ItemFactory(project=project, external_id=f"{MARKER}-item", responses=[f"{MARKER} a", f"{MARKER} b"])
    judgment = make_judgment(item, owner, preference=-1, rationale=f"{MARKER} rationale", version=version)
    Adjudication.objects.create(item=item, reviewer=owner, preference=-1, rationale=MARKER)
    job = ExportJob.objects.create(project=project, requested_by=owner, export_format="trl", params={"format": "trl"})
    scorer = ScorerFactory(name="victim-scorer")
    run = ScoringRun.objects.create(project=project, scorer=scorer, error=MARKER)
    response = item.responses.first()
    ResponseScore.objects.create(response=response, scorer=scorer, input_hash="h", value=1.0, run=run)
    CriterionScore.objects.create(response=response, criterion=version.criteria.first(), scorer=scorer, met=True,
                                  explanation=MARKER)
    from insights.models import InsightsSnapshot

    InsightsSnapshot.objects.create(project=project, status="done", leaderboard={"rows": [{"model": MARKER}]})
    token, _ = api_token_create(user=owner, name=f"{MARKER} token")
    # One value per path parameter name found in the URL conf.
    values = {
        "project_id": project.id, "item_id": item.id, "judgment_id": judgment.id, "job_id": job.id,
        "token_id": token.id, "run_id": run.id, "slug": rubric_set.slug, "number": version.number,
        "other": version.number, "scorer_id": scorer.id, "version_id": version.id, "response_id": response.id,
        "user_id": owner.id, "criterion_id": version.criteria.first().id, "table": "leaderboard",
        "assignment_id": judgment.assignment_id,
    }
    return project, values


@pytest.fixture
def outsider_client(outsider):
    _, raw = api_token_create(user=outsider, name="outsider")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def call(client, method: str, url: str):
    if method in ("get", "delete"):
        return getattr(client, method)(url)
    return getattr(client, method)(url, data={}, content_type="application/json")


def test_the_walk_covers_the_routes_this_issue_added():
    routes = {route for route, _ in api_routes()}
    for expected in ["api/v1/projects/<int:project_id>/export", "api/v1/projects/<int:project_id>/judgments/",
                     "api/v1/projects/<int:project_id>/items/", "api/v1/tokens/<int:token_id>/"]:
        assert expected in routes


def test_an_outsider_gets_404_for_every_method_of_every_route_with_a_foreign_id(victim, outsider_client):
    project, values = victim
    checked = []
    for route, callback in api_routes():
        if not parameters(route):
            continue
        url = fill(route, values)
        for method in methods_of(callback):
            response = call(outsider_client, method, url)
            assert response.status_code == 404, f"{method.upper()} {url} → {response.status_code}"
            body = b"" if response.streaming else response.content
            assert MARKER.encode() not in body, f"{method.upper()} {url} leaks the victim's data"
            checked.append((method, route))
    assert len(checked) >= 20


def test_an_anonymous_caller_gets_401_or_404_everywhere(victim):
    project, values = victim
    for route, callback in api_routes():
        if route in SELF_DESCRIBING:
            continue
        url = fill(route, values)
        for method in methods_of(callback):
            response = call(Client(), method, url)
            assert response.status_code in (401, 404), f"{method.upper()} {url} → {response.status_code}"


def test_no_list_shows_an_outsider_another_projects_rows(victim, outsider, outsider_client, foreign):
    """Every GET route without an id, and every GET route of the outsider's own project."""
    own = {"project_id": foreign.id}
    seen = 0
    for route, callback in api_routes():
        names = parameters(route)
        if "get" not in methods_of(callback) or (names and names != ["project_id"]):
            continue
        url = fill(route, own) if names else "/" + route
        response = outsider_client.get(url)
        assert response.status_code < 500, f"GET {url} → {response.status_code}"
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert MARKER.encode() not in body, f"GET {url} shows another project's rows"
        seen += 1
    assert seen >= 10


def test_writes_without_an_id_never_touch_another_project(victim, outsider_client):
    project, _values = victim
    before = (project.items.count(), ExportJob.objects.filter(project=project).count())
    for route, callback in api_routes():
        if parameters(route) or route in SELF_DESCRIBING:
            continue
        for method in methods_of(callback):
            if method == "get":
                continue
            response = call(outsider_client, method, "/" + route)
            assert response.status_code < 500, f"{method.upper()} /{route} → {response.status_code}"
    assert (project.items.count(), ExportJob.objects.filter(project=project).count()) == before


def test_a_member_without_the_role_gets_403_for_exports(victim, annotator, project):
    _, raw = api_token_create(user=annotator, name="annotator")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    for path in ["export?format=trl", "export/count?format=trl", "exports/", "agreement", "items/"]:
        assert client.get(f"/api/v1/projects/{project.id}/{path}").status_code == 403, path


def test_a_token_that_expired_mid_walk_gets_401_not_data(victim, outsider):
    token, raw = api_token_create(user=outsider, name="brief", expires_at=timezone.now() + timedelta(hours=1))
    token.expires_at = timezone.now() - timedelta(seconds=1)
    token.save()
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/projects/").status_code == 401
