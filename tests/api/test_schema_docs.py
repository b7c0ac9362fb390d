"""The OpenAPI schema and the interactive docs: served from the app, assets vendored (no CDN)."""

import re

import pytest
import yaml
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_interactive_docs_load_only_vendored_assets(client_for, annotator):
    response = client_for(annotator).get("/api/v1/docs/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist" in body
    sources = re.findall(r'(?:src|href)="([^"]+)"', body)
    assert sources and all(not s.startswith(("http://", "https://", "//")) for s in sources), sources


def test_the_schema_documents_bearer_tokens_and_the_export_parameters(db):
    schema = yaml.safe_load(Client().get("/api/v1/schema/").content)
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "Personal API token (rbk_…)."}
    export = schema["paths"]["/api/v1/projects/{project_id}/export"]["get"]
    params = {p["name"]: p for p in export["parameters"]}
    assert sorted(params["format"]["schema"]["enum"]) == ["helpsteer2", "judgments", "rubric_scores", "trl"]
    assert sorted(params["as"]["schema"]["enum"]) == ["csv", "jsonl", "parquet"]
    assert {"rubric_version", "min_judgments", "min_agreement", "tie_policy", "include_model_scores",
            "submitted_after"} <= set(params)
    assert {"200", "202", "400", "401", "404", "429"} <= set(export["responses"])


def test_the_schemas_export_parameters_are_the_ones_the_parser_reads():
    from exports.params import PARAM_NAMES, ExportParamsSerializer

    assert set(ExportParamsSerializer().fields) == set(PARAM_NAMES)
