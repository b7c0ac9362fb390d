"""Hostile JSON in API bodies, rubric documents and cursors: a 4xx naming the place, never a 500,
and nothing written (issue: security finding 6)."""

import base64
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from config import jsonsafe
from rubrics.models import RubricSet
from tests.factories import UserFactory

BASE = "/api/v1/rubric-sets/"


@pytest.fixture
def staff_api(db):
    client = APIClient()
    client.force_authenticate(UserFactory(username="root", is_staff=True))
    return client


def _post_raw(client, url, body: str | bytes):
    return client.generic("POST", url, body, content_type="application/json")


@pytest.mark.parametrize("body, where", [
    ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ('{"name": "x", "description": "' + "\\u0000" + '"}', "description: contains a NUL"),
    ('{"name": "\\ud800"}', "name: contains a lone surrogate"),
    ('{"name": "x", "criteria": [{"key": "a", "title": "A", "points": NaN}]}', "NaN is not a JSON number"),
    ('{"name": "x", "criteria": [{"key": "a", "title": "A", "points": Infinity}]}', "Infinity"),
    ('{"name": "x", "criteria": [{"key": "a", "title": "A", "points": 1e999999}]}', "out of range"),
    ('{"name": "x", "criteria": [{"key": "a", "title": "A", "points": ' + "9" * 5000 + "}]}", "digits"),
])
def test_a_hostile_api_body_answers_400_naming_the_problem_and_writes_nothing(staff_api, body, where):
    response = _post_raw(staff_api, BASE, body)
    assert response.status_code == 400, response.content[:300]
    assert where in response.json()["message"]
    assert not RubricSet.objects.exists()


@pytest.mark.parametrize("document, where", [
    ('{"name": "\\udc00", "criteria": []}', "lone surrogate"),
    ('[{"criterion": "x", "points": ' + "5" * 5000 + "}]", "digits"),
    ("- criterion: x\n  points: " + "5" * 5000 + "\n", "Invalid YAML"),
    ("- criterion: x\n  points: .nan\n", "finite"),
])
def test_a_hostile_rubric_document_answers_400_and_creates_nothing(staff_api, document, where):
    upload = SimpleUploadedFile("rubric.txt", document.encode("utf-8", "surrogatepass"), content_type="text/plain")
    response = staff_api.post(BASE + "import/", {"file": upload, "name": "X"}, format="multipart")
    assert response.status_code == 400, response.content[:300]
    assert where in response.json()["message"]
    assert not RubricSet.objects.exists()


@pytest.mark.parametrize("position", ["abc", "1e5", "-1", "99999999999999999999999", "%00"])
@pytest.mark.parametrize("listing", ["items", "judgments", "model-scores"])
def test_a_forged_cursor_position_is_a_404_not_a_500(client_for, project_admin, project, listing, position):
    """Security finding 6: `?cursor=cD1hYmM=` (p=abc) answered 500 on items, judgments and model scores."""
    cursor = base64.b64encode(f"p={position}".encode()).decode()
    response = client_for(project_admin).get(f"/api/v1/projects/{project.id}/{listing}/", {"cursor": cursor})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


JSON_ATOMS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, categories=None)),
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(JSON_ATOMS, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=5),
                                                                                          kids, max_size=4),
                    max_leaves=20))
def test_checked_values_are_storable_and_everything_else_is_named(value):
    """Whatever `jsonsafe.check` lets through encodes as UTF-8 without NUL and only finite numbers."""
    import json
    import math
    try:
        jsonsafe.check(value, max_depth=32)
    except jsonsafe.JSONValueError as exc:
        assert exc.message
        return
    text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    text.encode("utf-8")
    assert "\x00" not in text

    def finite(v):
        if isinstance(v, float):
            return math.isfinite(v)
        if isinstance(v, dict):
            return all(map(finite, v.values()))
        if isinstance(v, list):
            return all(map(finite, v))
        return True
    assert finite(value)


@pytest.mark.parametrize("url", ["/projects/{id}/items/?q=%00", "/projects/{id}/items/?filter=%00gold",
                                 "/api/v1/projects/{id}/items/?external_id=a%00b", "/rubrics/?x%00=1"])
def test_a_nul_in_a_query_parameter_answers_400_naming_it(client_for, project_admin, project, url):
    """Security finding 6: `?q=%00` reached PostgreSQL (which holds no NUL in text) and answered 500."""
    response = client_for(project_admin).get(url.format(id=project.id))
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


def test_a_nul_in_a_posted_form_answers_400_and_changes_nothing(client_for, project_admin, project):
    name = project.name
    response = client_for(project_admin).post(f"/projects/{project.id}/settings/", {"name": "x\x00y"})
    assert response.status_code == 400
    project.refresh_from_db()
    assert project.name == name


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
@pytest.mark.parametrize("path", ["export", "export/count"])
def test_an_export_date_outside_the_calendar_in_utc_answers_400_naming_it(client_for, project_admin, project, path,
                                                                         value):
    """Security finding 6: `submitted_after=9999-12-31T23:59:59-23:59` is year 10000 in UTC: it answered 500."""
    response = client_for(project_admin).get(f"/api/v1/projects/{project.id}/{path}",
                                             {"format": "trl", "submitted_after": value})
    assert response.status_code == 400
    assert "submitted_after" in response.json()["fields"]


@pytest.mark.parametrize("text", [
    '{"n": 18446744073709551616}', '{"n": -9223372036854775809}', '{"n": 12345678901234567890123}',
    '{"s": "a\\u0000b"}', '{"k\\u0000": 1}', '{"n": NaN}', '{"n": 1e999}', '{"s": "\\ud800"}',
    "[" * 40 + "]" * 40, '{"a": 1,}',
])
def test_the_fast_reader_leaves_whatever_it_might_read_differently_to_json(text):
    """loads_plain (orjson) reads plain text only: big integers (orjson makes them floats), NUL, deep
    nesting and all it refuses go to json.loads and `check`, which keep or name them as before."""
    with pytest.raises(jsonsafe.NotPlain):
        jsonsafe.loads_plain(text, max_depth=32)
    try:
        expected = json.loads(text)
    except ValueError:
        expected = "refused"
    try:
        got = jsonsafe.loads(text, max_depth=32)
    except ValueError:
        got = "refused"
    if expected != "refused" and got != "refused":
        assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("text", [
    '{"id": "x", "n": [1, -2.5, 1e16, 0.1, 9223372036854775807, -0.0, true, null], "s": "é😀 \\n \\" \\\\"}',
    '{"deep": [[[[{"a": [1]}]]]], "pair": "\\ud83d\\ude00", "u": "\\u00e9"}',
])
def test_the_fast_reader_reads_plain_text_as_json_does(text):
    assert jsonsafe.loads(text, max_depth=32) == json.loads(text)
    assert repr(jsonsafe.loads(text.encode(), max_depth=32)) == repr(json.loads(text))
