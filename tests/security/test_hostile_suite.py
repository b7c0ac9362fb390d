"""The hostile-input suite (issue 9): Hypothesis drives the importers (items, judgments, rubrics),
every API request body and every query parameter of the OpenAPI schema with huge and non-finite
numbers, NUL, lone surrogates, deep nesting, giant strings, odd dates and forged cursors. Every
answer is 4xx or success, never 5xx, and a refused request leaves every table as it was
(tests/security/hostile.py). The table of attempts per category is printed at the end of the run.
"""

from __future__ import annotations

import json
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.services import api_token_create
from annotator.models import Assignment, ProjectMembership
from exports.models import ExportJob
from scoring.models import ScoringRun
from tests.factories import (
    AssignmentFactory,
    CriterionFactory,
    ItemFactory,
    MembershipFactory,
    RubricVersionFactory,
    ScorerFactory,
    UserFactory,
)

from . import hostile
from .routes import all_routes, parameters_read, schema

pytestmark = pytest.mark.django_db

# Fixed examples by default, so every run tries the same ones in about a minute; HOSTILE_EXAMPLES=200 digs
# deeper with random ones (by hand, before a release).
DEEPER = int(os.environ.get("HOSTILE_EXAMPLES", "0"))
EXAMPLES = settings(max_examples=DEEPER or 10, deadline=None, derandomize=not DEEPER, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])
IMPORT_EXAMPLES = settings(EXAMPLES, max_examples=DEEPER or 50)
# Imports have their own categories below; their bodies are files, not JSON.
UPLOADS = {"/api/v1/projects/{project_id}/items/import", "/api/v1/projects/{project_id}/judgments/import"}


def _operations():
    spec = schema()
    body_ops, query_ops = [], []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            params = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            if params:
                query_ops.append(pytest.param(method, path, params, id=f"{method.upper()} {path}"))
            if method in ("post", "put", "patch") and path not in UPLOADS:
                ref = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
                body = spec["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]] if "$ref" in ref else {}
                props = {name: _resolve(spec, prop) for name, prop in body.get("properties", {}).items()}
                body_ops.append(pytest.param(method, path, props, id=f"{method.upper()} {path}"))
    return body_ops, query_ops


def _resolve(spec: dict, prop: dict) -> dict:
    if "allOf" in prop and "$ref" in prop["allOf"][0]:
        return {**spec["components"]["schemas"][prop["allOf"][0]["$ref"].rsplit("/", 1)[1]], **prop}
    return prop


BODY_OPERATIONS, QUERY_OPERATIONS = _operations()


@pytest.fixture
def target(project, rubric_version):
    """A caller who may do everything (a site admin who also administers the project), and an id for
    every path parameter: so hostile input reaches the code behind the access checks."""
    root = UserFactory(username="root", is_staff=True)
    MembershipFactory(project=project, user=root, role=ProjectMembership.Role.ADMIN)
    item = ItemFactory(project=project, external_id="pair-1")
    ItemFactory(project=project, external_id="pair-2")
    lease = AssignmentFactory(item=item, annotator=root, status=Assignment.Status.LEASED)
    draft = RubricVersionFactory(rubric_set=rubric_version.rubric_set, number=rubric_version.number + 1)
    CriterionFactory(version=draft, key="clear")
    scorer = ScorerFactory(name="length")
    run = ScoringRun.objects.create(project=project, scorer=scorer, status=ScoringRun.Status.DONE)
    job = ExportJob.objects.create(project=project, requested_by=root, export_format="trl", params={"format": "trl"})
    token, raw = api_token_create(user=root, name="root")
    values = {"project_id": project.id, "item_id": item.id, "assignment_id": lease.id, "slug": draft.rubric_set.slug,
              "number": draft.number, "other": rubric_version.number, "run_id": run.id, "job_id": job.id,
              "token_id": token.id, "judgment_id": 1, "table": "leaderboard", "scorer_id": scorer.id,
              "criterion_id": draft.criteria.first().id, "user_id": root.id, "page": "agreement", "secret": "x"}
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}", raise_request_exception=False)
    client.pages = Client(raise_request_exception=False)
    client.pages.force_login(root)
    return client, values


def _fill(path: str, values: dict) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", str(value))
    return path


def _body(props: dict) -> st.SearchStrategy[str]:
    """A whole hostile JSON document, or an object of the body's fields with hostile values."""
    fields = st.fixed_dictionaries({}, optional={name: hostile.for_schema(prop) for name, prop in props.items()})
    as_object = fields.map(lambda d: "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in d.items()) + "}")
    return st.one_of(hostile.json_values, as_object) if props else hostile.json_values


@pytest.mark.parametrize("method, path, props", BODY_OPERATIONS)
def test_every_api_body_answers_4xx_or_success_and_writes_nothing_when_refused(target, method, path, props):
    client, values = target
    url = _fill(path, values)

    @EXAMPLES
    @given(body=_body(props))
    def check(body):
        hostile.attempt("API request bodies", lambda: client.generic(
            method.upper(), url, body.encode("utf-8", "surrogatepass"), content_type="application/json"))

    check()


def _is_date(name: str) -> bool:
    return name.endswith(("_after", "_before"))


def _query_value(name: str):
    if name == "cursor":
        return hostile.cursors
    if _is_date(name):
        return st.one_of(hostile.dates, hostile.query_values)
    return hostile.query_values


PARAMETERS = [pytest.param(p.values[0], p.values[1], name, "format" in p.values[2], id=f"{p.id} {name}")
              for p in QUERY_OPERATIONS for name in p.values[2]]


@pytest.mark.parametrize("method, path, name, is_export", PARAMETERS)
def test_every_query_parameter_takes_every_edge_value(target, method, path, name, is_export):
    """Each edge value (and each odd date, in a date parameter) in each parameter, every run; an
    export gets a valid format beside it, so the value reaches the parameter's own check."""
    client, values = target
    edges = [("odd dates", v) for v in hostile.ODD_DATES] if _is_date(name) else []
    edges += [("cursors" if name == "cursor" else "query parameters", v) for v in hostile.EDGE_VALUES]
    if name == "cursor":  # the edge values also as each part of a well-formed cursor
        edges += [("cursors", hostile.cursor_of(part, v)) for part in "orp" for v in hostile.EDGE_VALUES]
    base = {"format": "trl"} if is_export else {}
    for category, value in edges:
        full = f"{_fill(path, values)}?{hostile.query_string({**base, name: value})}"
        hostile.attempt(category, lambda full=full: client.generic(method.upper(), full))


@pytest.mark.parametrize("method, path, params", QUERY_OPERATIONS)
def test_every_query_parameter_answers_4xx_or_success(target, method, path, params):
    client, values = target
    url = _fill(path, values)
    query = st.fixed_dictionaries({}, optional={name: _query_value(name) for name in params}).filter(bool)

    @EXAMPLES
    @given(params=query)
    def check(params):
        category = "cursors" if "cursor" in params else "odd dates" if any(map(_is_date, params)) \
            else "query parameters"
        full = f"{url}?{hostile.query_string(params)}"
        hostile.attempt(category, lambda: client.generic(method.upper(), full))

    check()


PAGES = [pytest.param(r, id=r.name) for r in all_routes()
         if not r.is_api and not r.name.startswith("admin") and parameters_read(r)]


@pytest.mark.parametrize("route", PAGES)
def test_every_page_parameter_answers_4xx_or_success(target, route):
    """Pages have no schema: each takes the parameters its view module reads by name, all at once,
    each edge value in turn, as a query string (GET) and as a form (POST)."""
    client, values = target
    url = route.url(values)
    names = parameters_read(route)
    for value in hostile.PAGE_EDGE_VALUES:
        query = hostile.query_string(dict.fromkeys(names, value))
        hostile.attempt("page parameters", lambda q=query: client.pages.get(f"{url}?{q}"))
        hostile.attempt("page parameters", lambda q=query: client.pages.post(
            url, q, content_type="application/x-www-form-urlencoded"))


# --- the importers ------------------------------------------------------------------------------

PAIR = '[{"content": "a"}, {"content": "b"}]'


def _item_line(fields: dict[str, str]) -> str:
    base = {"id": '"x"', "prompt": '"p"', "responses": PAIR}
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in {**base, **fields}.items()) + "}"


item_lines = st.one_of(
    st.fixed_dictionaries({}, optional={
        "id": hostile.json_values, "prompt": hostile.json_values, "metadata": hostile.json_values,
        "responses": st.one_of(hostile.json_values, hostile.json_values.map(lambda v: f'[{{"content": {v}}}, '
                                                                                       '{"content": "b"}]'),
                               hostile.json_values.map(lambda v: f'[{{"content": "a", "metadata": {v}}}, '
                                                                 '{"content": "b"}]')),
    }).map(_item_line),
    # HelpSteer2 lines: a strength out of every range.
    hostile.json_values.map(lambda v: '{"prompt": "p", "response_1": "a", "response_2": "b", '
                                      f'"preference_strength": {v}}}'),
    hostile.json_values,
)


@IMPORT_EXAMPLES
@given(lines=st.lists(item_lines, min_size=1, max_size=3), fmt=st.sampled_from(["", "auto", "trl", "\x00", "\ud800"]),
       gold=st.sampled_from(["", "true", "NaN", "9" * 500]))
def test_item_imports_answer_4xx_or_success_and_store_nothing_when_refused(target, lines, fmt, gold):
    client, values = target
    query = hostile.query_string({k: v for k, v in {"file_format": fmt, "gold": gold}.items() if v})
    body = "\n".join(lines).encode("utf-8", "surrogatepass")
    url = f"/api/v1/projects/{values['project_id']}/items/import?{query}"
    hostile.attempt("item imports", lambda: client.post(url, body, content_type="application/x-ndjson"))


RUBRIC_NAMES = ["x@v\u00b2", "x@v" + "9" * 5000, "x@v99999999999999999999", "@v1", "x@v-1", "x@v"]


def _judgment_line(fields: dict[str, str]) -> str:
    base = {"item_id": '"pair-1"', "annotator": '"ext"', "preference": "-1"}
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in {**base, **fields}.items()) + "}"


judgment_lines = st.one_of(
    st.fixed_dictionaries({}, optional={
        name: hostile.json_values for name in ("item_id", "annotator", "preference", "both_bad", "ranking",
                                               "rationale", "time_spent_ms", "response_ids")
    } | {
        "rubric_version": st.one_of(hostile.json_values, st.sampled_from(RUBRIC_NAMES).map(hostile.as_json_string)),
        "submitted_at": st.one_of(hostile.dates.map(hostile.as_json_string), hostile.json_values),
        "scores": st.one_of(hostile.json_values, hostile.json_values.map(
            lambda v: f'[{{"response": 1, "criterion": "c0", "value": {v}}}]')),
    }).map(_judgment_line),
    hostile.json_values.map(lambda v: '{"prompt": "p", "response_1": "a", "response_2": "b", '
                                      f'"all_preferences_unprocessed": [{{"strength": {v}}}]}}'),
    hostile.json_values,
)


@pytest.mark.parametrize("field, value", [("submitted_at", d) for d in hostile.ODD_DATES]
                         + [("rubric_version", v) for v in RUBRIC_NAMES])
def test_every_odd_date_and_rubric_name_in_a_judgment_import_answers_4xx_or_success(target, field, value):
    client, values = target
    line = _judgment_line({field: hostile.as_json_string(value)})
    category = "odd dates" if field == "submitted_at" else "judgment imports"
    url = f"/api/v1/projects/{values['project_id']}/judgments/import"
    hostile.attempt(category, lambda: client.post(url, line, content_type="application/x-ndjson"))


@IMPORT_EXAMPLES
@given(lines=st.lists(judgment_lines, min_size=1, max_size=3))
def test_judgment_imports_answer_4xx_or_success_and_store_nothing_when_refused(target, lines):
    client, values = target
    body = "\n".join(lines).encode("utf-8", "surrogatepass")
    url = f"/api/v1/projects/{values['project_id']}/judgments/import"
    hostile.attempt("judgment imports", lambda: client.post(url, body, content_type="application/x-ndjson"))


rubric_documents = st.one_of(
    hostile.json_values,
    st.fixed_dictionaries({}, optional={"name": hostile.json_values, "description": hostile.json_values,
                                        "criteria": st.one_of(hostile.json_values, hostile.json_values.map(
                                            lambda v: f'[{{"key": "a", "title": "A", "points": {v}}}]'))}).map(
        lambda d: "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in d.items()) + "}"),
    # YAML and OpenRubrics lines.
    st.one_of(hostile.numbers, hostile.texts).map(lambda v: f"- criterion: x\n  points: {v}\n"),
    hostile.json_values.map(lambda v: f'{{"criterion": "x", "points": {v}}}\n'),
)


@IMPORT_EXAMPLES
@given(document=rubric_documents, as_upload=st.booleans())
def test_rubric_imports_answer_4xx_or_success_and_create_nothing_when_refused(target, document, as_upload):
    client, _values = target
    data = document.encode("utf-8", "surrogatepass")
    if as_upload:
        upload = SimpleUploadedFile("rubric.txt", data, content_type="text/plain")
        send = lambda: client.post("/api/v1/rubric-sets/import/", {"file": upload, "name": "X"})  # noqa: E731
    else:
        body = b'{"name": "X", "content": ' + hostile.as_json_string(data.decode("utf-8", "surrogatepass")).encode() \
            + b"}"
        send = lambda: client.post("/api/v1/rubric-sets/import/", body, content_type="application/json")  # noqa: E731
    hostile.attempt("rubric imports", send)
