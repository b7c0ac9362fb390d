"""manage.py export PROJECT_ID --format trl|helpsteer2|rubric_scores|judgments [--as jsonl|csv|parquet] …

The same exports as the API and the export page, from the command line: JSONL and CSV stream to a
file or to stdout; Parquet is written to a file directly (no job). A summary goes to stderr.
"""

import contextlib
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from rest_framework import serializers

from annotator.models import Project
from config.errors import ApplicationError
from exports.params import FILE_FORMATS, FORMATS, ExportParamsSerializer, export_params_parse
from exports.rows import export_column_names, export_cursor, export_rows
from exports.writers import csv_chunks, export_stream, export_write_parquet


class Command(BaseCommand):
    help = "Export a project's labeled data (trl, helpsteer2, rubric_scores, judgments) as JSONL, CSV or Parquet."

    def add_arguments(self, parser):
        parser.add_argument("project_id", type=int)
        parser.add_argument("--format", dest="export_format", required=True, choices=FORMATS)
        parser.add_argument("--as", dest="file_format", default="jsonl", choices=FILE_FORMATS)
        parser.add_argument("-o", "--output", default="-",
                            help="File to write; '-' (the default) is stdout, for jsonl and csv.")
        # The export parameters as the serializer defines them (validated there, like the API's).
        for name, field in ExportParamsSerializer().fields.items():
            if name == "format":
                continue
            option = "--" + name.replace("_", "-")
            if isinstance(field, serializers.BooleanField):
                parser.add_argument(option, dest=name, action="store_true", help=field.help_text)
            else:
                choices = list(field.choices) if isinstance(field, serializers.ChoiceField) else None
                parser.add_argument(option, dest=name, choices=choices, help=field.help_text)

    def handle(self, *args, project_id, export_format, file_format, output, **options):
        project = Project.objects.filter(pk=project_id).first()
        if project is None:
            raise CommandError(f"No project with id {project_id}.")
        data = {name: options.get(name) for name in ExportParamsSerializer().fields}
        try:
            params = export_params_parse({**data, "format": export_format}, project=project)
        except ApplicationError as error:
            raise CommandError(error.message)
        if file_format == "parquet" and output == "-":
            raise CommandError("Parquet needs a file: pass -o PATH.")

        cursor = export_cursor()
        started = time.perf_counter()
        if file_format == "parquet":
            rows = export_write_parquet(project=project, params=params, path=Path(output))
        else:
            rows = self._write_stream(project, params, file_format, output)
        where = "stdout" if output == "-" else output
        self.stderr.write(f"{export_format} as {file_format} to {where}: {rows} rows "
                          f"in {time.perf_counter() - started:.1f} s; next increment: --submitted-after {cursor}")

    def _write_stream(self, project, params, file_format: str, output: str) -> int:
        count = 0

        def counted():
            nonlocal count
            for row in export_rows(project=project, params=params):
                count += 1
                yield row

        def lines_counted(chunks):
            # JSON Lines: a row is a line (JSON escapes the newlines inside values).
            nonlocal count
            for chunk in chunks:
                count += chunk.count(b"\n")
                yield chunk

        if file_format == "jsonl":
            # The API's stream: on PostgreSQL, judgments and trl as lines the database mostly wrote.
            chunks = lines_counted(export_stream(project=project, params=params, file_format="jsonl"))
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
