"""manage.py export PROJECT_ID --format trl|helpsteer2|rubric_scores|judgments [--as jsonl|csv|parquet] …

The same exports as the API and the export page, from the command line: JSONL and CSV stream to a
file or to stdout; Parquet is written to a file directly (no job). A summary goes to stderr.
"""

import contextlib
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotator.exports import (
    FILE_FORMATS,
    FORMATS,
    TIE_POLICIES,
    csv_chunks,
    export_column_names,
    export_columns,
    export_params_parse,
    export_rows,
    export_write_parquet,
    jsonl_chunks,
)
from annotator.models import Project
from config.errors import ApplicationError


class Command(BaseCommand):
    help = "Export a project's labeled data (trl, helpsteer2, rubric_scores, judgments) as JSONL, CSV or Parquet."

    def add_arguments(self, parser):
        parser.add_argument("project_id", type=int)
        parser.add_argument("--format", dest="export_format", required=True, choices=FORMATS)
        parser.add_argument("--as", dest="file_format", default="jsonl", choices=FILE_FORMATS)
        parser.add_argument("-o", "--output", default="-",
                            help="File to write; '-' (the default) is stdout, for jsonl and csv.")
        parser.add_argument("--rubric-version", type=int, help="Only judgments made with this rubric version id.")
        parser.add_argument("--min-judgments", type=int, default=1, help="Items with at least this many judgments.")
        parser.add_argument("--min-agreement", type=float, help="Items with at least this pairwise agreement (0..1).")
        parser.add_argument("--tie-policy", default="drop", choices=TIE_POLICIES)
        parser.add_argument("--include-model-scores", action="store_true")
        parser.add_argument("--submitted-after", help="Incremental export: ISO 8601 date or date-time.")

    def handle(self, *args, project_id, export_format, file_format, output, **options):
        project = Project.objects.filter(pk=project_id).first()
        if project is None:
            raise CommandError(f"No project with id {project_id}.")
        data = {"format": export_format, "rubric_version": options["rubric_version"],
                "min_judgments": options["min_judgments"], "min_agreement": options["min_agreement"],
                "tie_policy": options["tie_policy"], "include_model_scores": options["include_model_scores"],
                "submitted_after": options["submitted_after"]}
        try:
            params = export_params_parse(
                {k: v if v is None or isinstance(v, bool) else str(v) for k, v in data.items()}, project=project
            )
        except ApplicationError as error:
            raise CommandError(error.message)
        if file_format == "parquet" and output == "-":
            raise CommandError("Parquet needs a file: pass -o PATH.")

        started = time.perf_counter()
        if file_format == "parquet":
            rows = export_write_parquet(project=project, params=params, path=Path(output))
        else:
            rows = self._write_stream(project, params, file_format, output)
        where = "stdout" if output == "-" else output
        self.stderr.write(f"{export_format} as {file_format} to {where}: {rows} rows "
                          f"in {time.perf_counter() - started:.1f} s")

    def _write_stream(self, project, params, file_format: str, output: str) -> int:
        count = 0

        def counted():
            nonlocal count
            for row in export_rows(project=project, params=params):
                count += 1
                yield row

        if file_format == "jsonl":
            chunks = jsonl_chunks(export_columns(params), counted())
        else:
            chunks = csv_chunks(export_column_names(params), counted())
        with contextlib.ExitStack() as stack:
            if output != "-":
                stream = stack.enter_context(Path(output).open("wb"))
            else:
                # Bytes straight to the real stdout; text when call_command() captured stdout.
                target = getattr(self.stdout, "_out", sys.stdout)
                stream = getattr(target, "buffer", None) or _TextSink(target)
            for chunk in chunks:
                stream.write(chunk)
            stream.flush()
        return count


class _TextSink:
    def __init__(self, out):
        self.out = out

    def write(self, chunk: bytes) -> None:
        self.out.write(chunk.decode())

    def flush(self) -> None:
        self.out.flush()
