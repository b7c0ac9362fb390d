"""import_rubric and export_rubric management commands."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from rubrics.models import RubricSet, RubricVersion


def test_export_then_import_from_the_command_line_keeps_the_hash(published, tmp_path):
    path = tmp_path / "quality.yaml"
    call_command("export_rubric", "quality", "--syntax", "yaml", "-o", str(path), stderr=StringIO())
    out = StringIO()
    call_command("import_rubric", str(path), "--slug", "quality-copy", "--publish", stdout=out)
    assert "Imported quality-copy v1 (rubricate, 3 criteria) as published." in out.getvalue()
    copy = RubricVersion.objects.get(rubric_set__slug="quality-copy")
    assert copy.content_hash == published.content_hash


def test_export_defaults_to_the_newest_published_version(published):
    out = StringIO()
    call_command("export_rubric", "quality", "--form", "healthbench", stdout=out)
    assert json.loads(out.getvalue())[0] == {"criterion": "Factually accurate\n\nEvery claim is **correct**.",
                                             "points": 5, "tags": []}


def test_a_bad_file_fails_with_every_path_and_imports_nothing(db, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"criterion": "ok", "points": 1, "tags": []}, {"criterion": "", "points": "x"}]))
    with pytest.raises(CommandError) as info:
        call_command("import_rubric", str(path), "--name", "Bad")
    assert "[1].criterion: is required" in str(info.value) and "[1].points: must be a number" in str(info.value)
    assert not RubricSet.objects.exists()
