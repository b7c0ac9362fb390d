"""Property-based API tests: schemathesis generates requests from /api/v1/schema/ and checks every
answer against the schema. No server errors, no undocumented status codes or content types, and
every JSON body matches its documented shape. Bounded: a few examples per operation, seeded.

Requests go to the WSGI app in-process, authenticated with a real bearer token of a project admin;
generated `project_id`s are pointed at that project about half of the time so that the endpoints
run against real rows, not only the 404 path.
"""

import zlib

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import api_token_create
from config.wsgi import application
from tests.factories import ItemFactory
from tests.helpers import make_judgment

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 5


# Loaded at collection: building the schema needs Django, not the database. (schemathesis' lazy
# `from_fixture` loader does not run on pytest 9.)
schema = schemathesis.openapi.from_wsgi(
    "/api/v1/schema/", application,
    config=schemathesis.Config.from_dict({"generation": {
        "max-examples": EXAMPLES_PER_OPERATION, "mode": "all", "deterministic": True, "database": "none",
    }}),
)


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    # Requests reach the real WSGI handler here, whose request signals would close the test's
    # connection (and its transaction) after every request; Django's test client does the same.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def small_project(project, project_admin, annotator):
    """A few rows of every kind, cheap to build for each of the ~40 operations."""
    for key, preference in (("a", -2), ("b", 1)):
        item = ItemFactory(project=project, external_id=f"st-{key}")
        make_judgment(item, annotator, preference=preference, rationale="Because.")
        make_judgment(item, project_admin, preference=preference)
    return project


@pytest.fixture
def token(small_project, project_admin, settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path
    cache.clear()
    _, raw = api_token_create(user=project_admin, name="schemathesis")
    return raw


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_the_api_answers_every_generated_request_as_documented(case, token, small_project):
    if "project_id" in (case.path_parameters or {}) and zlib.crc32(repr(case.query).encode()) % 2 == 0:
        case.path_parameters["project_id"] = small_project.id
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
