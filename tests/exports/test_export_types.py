"""Column types that stay put (issue 14, #5, #6, #9): six-digit UTC times on whole seconds too, kept ties
marked, text columns never null, and JSON Lines files of one format that load together."""

import csv
import io
import json

import pyarrow as pa
import pyarrow.json as pajson
import pytest

from annotator.models import Item, Judgment
from exports.params import ExportParams
from exports.rows import export_columns
from exports.writers import _arrow_type, export_stream

pytestmark = pytest.mark.django_db
TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"


def body(project, fmt, file_format="jsonl", **params) -> str:
    stream = export_stream(project=project, params=ExportParams(export_format=fmt, **params), file_format=file_format)
    return b"".join(stream).decode()


def test_times_have_six_fractional_digits_on_whole_seconds(labeled):
    import re

    import pandas as pd

    assert any(t.microsecond == 0 for t in Judgment.objects.filter(item__project=labeled.project)
               .values_list("submitted_at", flat=True)), "the known answers are judged on whole seconds"
    for fmt, column in (("judgments", "submitted_at"), ("rubric_scores", "scored_at")):
        rows = [json.loads(line) for line in body(labeled.project, fmt).splitlines()]
        assert all(re.fullmatch(TIME, r[column]) for r in rows), fmt
        cells = [r[column] for r in csv.DictReader(io.StringIO(body(labeled.project, fmt, "csv")))]
        assert all(re.fullmatch(TIME, c) for c in cells), fmt
        # One format for the whole column: pandas parses it with the exact format, not guessing.
        parsed = pd.to_datetime(pd.Series(cells), format="%Y-%m-%dT%H:%M:%S.%fZ", utc=True)
        assert parsed.notna().all()


def test_kept_ties_are_marked_and_others_are_not(labeled):
    for fmt in ("trl", "helpsteer2"):
        rows = {r["item_id"]: r for r in map(json.loads, body(labeled.project, fmt, tie_policy="keep").splitlines())}
        assert rows["tie"]["tie"] is True and rows["split"]["tie"] is True
        assert {k for k, r in rows.items() if r["tie"]} == {"tie", "split"}
    trl = {r["item_id"]: r for r in map(json.loads, body(labeled.project, "trl", tie_policy="keep").splitlines())}
    # The documented direction: response 1 (stored order) is `chosen`.
    assert trl["tie"]["chosen_id"] == "tie-r0" and trl["tie"]["margin"] == 0


def test_text_columns_are_never_null(labeled):
    for fmt in ("trl", "helpsteer2", "judgments", "rubric_scores"):
        params = {"include_model_scores": True}
        columns = export_columns(ExportParams(export_format=fmt, **params))
        texts = [name for name, type_name in columns if type_name == "string"]
        for row in map(json.loads, body(labeled.project, fmt, **params).splitlines()):
            assert all(row[name] is not None for name in texts), (fmt, [n for n in texts if row[n] is None])


def test_import_metadata_is_in_every_format(labeled):
    Item.objects.filter(pk=labeled.items["agree-first"].pk).update(metadata={"subset": "math-prm", "source": "s-7"})
    for fmt in ("trl", "helpsteer2", "judgments", "rubric_scores"):
        rows = [r for r in map(json.loads, body(labeled.project, fmt).splitlines()) if r["item_id"] == "agree-first"]
        assert rows, fmt
        for row in rows:
            assert row["subset"] == "math-prm", fmt
            assert json.loads(row["metadata"]) == {"subset": "math-prm", "source": "s-7"}, fmt


def test_json_lines_files_of_one_format_load_together(labeled, tmp_path):
    """A file where a column is empty everywhere (one judgment an item: agreement null; pairs only:
    ranking []) and one where it is not load as one dataset with the format's types."""
    datasets = pytest.importorskip("datasets")
    project = labeled.project
    for fmt in ("judgments", "trl", "helpsteer2", "rubric_scores"):
        params = ExportParams(export_format=fmt, min_agreement=None)
        sparse = ExportParams(export_format=fmt, rubric_version_id=labeled.other_version.id)  # old-rubric only
        paths = [tmp_path / f"{fmt}-all.jsonl", tmp_path / f"{fmt}-sparse.jsonl"]
        paths[0].write_text(body(project, fmt))
        paths[1].write_text(body(project, fmt, rubric_version_id=sparse.rubric_version_id) or "")
        schema = pa.schema([pa.field(name, _arrow_type(t)) for name, t in export_columns(params)])
        # pyarrow reads each file with the format's schema, and the two tables concatenate.
        tables = [pajson.read_json(p, parse_options=pajson.ParseOptions(explicit_schema=schema))
                  for p in paths if p.stat().st_size]
        assert pa.concat_tables(tables).schema == schema
        # datasets, with the same types as features (the Parquet files carry them too).
        features = datasets.Features.from_arrow_schema(schema)
        files = [str(p) for p in reversed(paths) if p.stat().st_size]  # the sparse file first
        loaded = datasets.load_dataset("json", data_files=files, features=features, split="train",
                                       cache_dir=str(tmp_path / "cache"))
        assert len(loaded) == sum(t.num_rows for t in tables), fmt
