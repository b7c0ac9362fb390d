"""The role matrix: every route of the URL conf (pages, htmx fragments, the API, Django's admin) and
every operation of the OpenAPI schema, called by each role, each answer checked against the one
declared table in tests/security/role_matrix.py. A route without an entry fails with its name.

Every call runs in a savepoint that is rolled back, so a write by one role never changes what the
next one sees. The figure (routes × methods × roles checked) is printed at the end of the run
(tests/security/conftest.py) for the closing note of issue 9; when this was written: 261 routes,
483 route × method pairs (51 of them OpenAPI operations) × 6 roles = 2,898 answers checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.apps import apps
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import Client
from django.urls import resolve

from accounts.services import api_token_create
from annotator.models import Adjudication, Assignment, ProjectMembership
from annotator.services import member_invite
from exports.models import ExportJob
from insights.models import InsightsSnapshot
from scoring.models import CriterionScore, PairwiseScore, ResponseScore, Scorer, ScoringRun
from tests.factories import AssignmentFactory, ItemFactory, MembershipFactory, ScorerFactory, UserFactory
from tests.helpers import make_judgment

from . import role_matrix as matrix
from .conftest import FIGURES
from .routes import all_routes, schema_operations

pytestmark = pytest.mark.django_db

Role = ProjectMembership.Role

# What an annotator must never read (unless the project allows it): each marker is written into the
# world below where only staff may see it.
SECRETS = {
    "gold flag": '"is_gold"',
    "gold label": 'GOLD-LABEL-MARKER',
    "import label": "LABEL-chosen",
    "import position": "LABEL-rejected",
    "another annotator's judgment": "OTHER-ANNOTATOR-RATIONALE",
    "adjudicated label": "ADJUDICATION-RATIONALE",
    "model score value": "0.987654",
    "model score table": 'id="item-model-scores-',
    "judge URL": "judge-secret-host.example",
}


@dataclass
class World:
    values: dict
    users: dict
    clients: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)

    def login(self, role: str) -> None:
        self.clients[role] = Client()
        if role != "anonymous":
            self.clients[role].force_login(self.users[role])


@pytest.fixture
def world(project, rubric_version, project_admin, reviewer, annotator, staff_admin, outsider):
    """One of everything in `project`, and a logged-in client and a Bearer token per role."""
    ann2 = UserFactory(username="ann2")
    MembershipFactory(project=project, user=ann2, role=Role.ANNOTATOR)
    # The gold item, imported from a TRL file (response ids say which is chosen).
    item = ItemFactory(project=project, external_id="pair-1", responses=["First answer", "Second answer"])
    first, second = item.responses.order_by("position")
    first.external_id, second.external_id = SECRETS["import label"], SECRETS["import position"]
    first.save(), second.save()
    item.is_gold, item.gold_preference = True, -2
    item.metadata = {"note": SECRETS["gold label"]}  # as an import may carry the label in metadata
    item.save()
    judgment = make_judgment(item, ann2, preference=-1, rationale=SECRETS["another annotator's judgment"])
    Adjudication.objects.create(item=item, reviewer=reviewer, preference=-1, rationale=SECRETS["adjudicated label"])
    # The annotator holds a lease on the same item: the comparison page shows it.
    lease = AssignmentFactory(item=item, annotator=annotator, status=Assignment.Status.LEASED)
    scorer = ScorerFactory(name="length-baseline")
    ScorerFactory(name="judge", backend=Scorer.Backend.OPENAI_JUDGE,
                  options={"base_url": f"https://{SECRETS['judge URL']}/v1", "api_key_env": "RUBRICATE_JUDGE_KEY_X"})
    # Every model in Django's admin has a row to open.
    Group.objects.create(name="editors")
    PairwiseScore.objects.create(item=item, response_a=first, response_b=second, scorer=scorer, input_hash="h")
    AccessAttempt.objects.create(username="someone", ip_address="203.0.113.9", user_agent="x", failures_since_start=1)
    AccessFailureLog.objects.create(username="someone", ip_address="203.0.113.9", user_agent="x")
    run = ScoringRun.objects.create(project=project, scorer=scorer, status=ScoringRun.Status.DONE)
    ResponseScore.objects.create(response=first, scorer=scorer, input_hash="h", value=0.987654, run=run)
    CriterionScore.objects.create(response=first, criterion=rubric_version.criteria.first(), scorer=scorer,
                                  met=True, explanation="Meets it.")
    job = ExportJob.objects.create(project=project, requested_by=project_admin, export_format="trl",
                                   params={"format": "trl"})
    InsightsSnapshot.objects.create(project=project, status="done")
    token, _ = api_token_create(user=annotator, name="laptop")
    # Invited into the project by its admin and not joined yet: the member and user routes act on them.
    invite = member_invite(project=project, username="newcomer", role=Role.ANNOTATOR, actor=project_admin)
    values = {
        "project_id": project.id, "item_id": item.id, "judgment_id": judgment.id, "job_id": job.id,
        "token_id": token.id, "run_id": run.id, "slug": rubric_version.rubric_set.slug,
        "number": rubric_version.number, "other": rubric_version.number, "scorer_id": scorer.id,
        "user_id": invite.invite.user_id, "id": invite.invite.user_id,
        "criterion_id": rubric_version.criteria.first().id,
        "table": "leaderboard", "page": "agreement", "assignment_id": lease.id, "secret": invite.secret,
        "app_label": "annotator", "content_type_id": ContentType.objects.get_for_model(item).id,
        "url": "no-such-page/", "project_name": project.name,
    }
    users = {"outsider": outsider, "annotator": annotator, "reviewer": reviewer, "project admin": project_admin,
             "site admin": staff_admin}
    w = World(values=values, users=users)
    w.login("anonymous")
    for role, user in users.items():
        w.login(role)
        w.tokens[role] = api_token_create(user=user, name=f"{role} token")[1]
    return w


def _object_id(route) -> str:
    """For admin/<app>/<model>/<object_id>/…: the id of an object of that model."""
    parts = route.pattern.split("/")
    if parts[1] == "r":  # the admin's "view on site" redirect: admin/r/<content_type_id>/<object_id>/
        return "1"
    model = apps.get_model(parts[1], parts[2])
    first = model.objects.order_by("pk").first()
    return str(first.pk) if first is not None else "1"


def call(w: World, role: str, route, method: str):
    """One request, rolled back afterwards; the response with its whole body read."""
    values = dict(w.values)
    if "object_id" in route.params:
        values["object_id"] = _object_id(route)
    url = route.url(values)
    if route.is_api and role != "anonymous":
        client = Client(HTTP_AUTHORIZATION=f"Bearer {w.tokens[role]}")
    else:
        client = w.clients[role]
    with transaction.atomic():
        if method in ("get", "delete"):
            response = getattr(client, method)(url)
        elif route.is_api:
            response = getattr(client, method)(url, data={}, content_type="application/json")
        else:
            response = getattr(client, method)(url, data={})
        response.body = b"".join(response.streaming_content) if response.streaming else response.content
        transaction.set_rollback(True)
    if route.name.endswith("logout"):
        w.login(role)  # the session just ended
    return url, response


def walk(w: World):
    """Every route × method × role: (route, method, role, url, response)."""
    for route in all_routes():
        for method in route.methods:
            for role in matrix.ROLES:
                url, response = call(w, role, route, method)
                yield route, method, role, url, response


def test_every_route_answers_every_role_as_the_matrix_declares(world):
    """Role matrix, issue 9: the answers of every route to every role, against ROLE_MATRIX; and what
    annotators and outsiders read never holds gold, labels, import positions, other annotators'
    judgments, model scores or judge URLs."""
    missing, wrong, leaks = set(), [], []
    routes, operations, calls = set(), set(), 0
    for route, method, role, url, response in walk(world):
        routes.add(route.name)
        operations.add((method, route.name))
        calls += 1
        want = matrix.expected(route.name, method)
        if want is None:
            missing.add(f"{method.upper()} {route.name} ({route.pattern})")
            continue
        got = matrix.outcome(response)
        if got != want[role]:
            wrong.append(f"{method.upper()} {url} as {role}: {got} ({response.status_code}), declared {want[role]}")
        if got == "ok" and role in ("annotator", "outsider"):
            leaks += [f"{method.upper()} {url} shows the {role} {what}" for what, marker in hidden_from(role, world)
                      if marker in response.body]
    FIGURES["role matrix"] = {"routes": len(routes), "operations": len(operations), "roles": len(matrix.ROLES),
                                "calls": calls}
    assert not missing, "routes without an entry in tests/security/role_matrix.py:\n" + "\n".join(sorted(missing))
    assert not wrong, "answers that differ from the matrix:\n" + "\n".join(wrong)
    assert not leaks, "\n".join(leaks)
    assert len(routes) > 200


def hidden_from(role: str, w: World) -> list[tuple[str, bytes]]:
    secrets = [(what, marker.encode()) for what, marker in SECRETS.items()]
    if role == "outsider":
        secrets.append(("project's name", w.values["project_name"].encode()))
    return secrets


def test_staff_do_see_what_annotators_must_not(world):
    """The markers of the check above are really on the pages and in the API: reviewers read them."""
    seen = b"".join(response.body for route, method, role, _url, response in walk_reads(world, "reviewer"))
    for what, marker in SECRETS.items():
        if what != "judge URL":
            assert marker.encode() in seen, f"no reviewer page or API answer shows the {what}: the check is empty"
    sites = b"".join(response.body for *_rest, response in walk_reads(world, "site admin"))
    assert SECRETS["judge URL"].encode() in sites


def walk_reads(w: World, role: str):
    for route in all_routes():
        if "get" in route.methods and not route.name.startswith("admin"):
            url, response = call(w, role, route, "get")
            yield route, "get", role, url, response


def test_an_annotator_sees_model_scores_only_where_the_project_allows(world, project):
    """…unless the project allows it: with `show_model_scores` the comparison page shows them."""
    client = world.clients["annotator"]
    url = f"/projects/{project.id}/annotate/"
    table = SECRETS["model score table"].encode()
    assert table not in client.get(url).content
    project.show_model_scores = True
    project.save()
    assert table in client.get(url).content


def test_every_operation_of_the_openapi_schema_is_walked_and_declared(world):
    """The schema's operations and the URL conf's API routes are the same set, each with a matrix row."""
    walked = {(m, r.name) for r in all_routes() if r.is_api for m in r.methods}
    documented = set()
    for method, path in schema_operations():
        filled = path
        for name, value in world.values.items():
            filled = filled.replace("{" + name + "}", str(value))
        assert "{" not in filled, f"{path}: a path parameter the world has no value for"
        name = resolve(filled).url_name
        assert matrix.expected(name, method) is not None, f"{method.upper()} {path} ({name}) has no matrix entry"
        documented.add((method, name))
    FIGURES["schema operations"] = len(documented)
    assert documented <= walked, f"in the schema but not in the URL conf: {documented - walked}"
    undocumented = {op for op in walked - documented if op[1] not in ("api-schema", "api-docs")}
    assert not undocumented, f"API routes missing from the OpenAPI schema: {undocumented}"
