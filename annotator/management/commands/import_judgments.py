"""manage.py import_judgments PROJECT_ID FILE [--format auto]: the same judgment import as the API."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotator.formats import import_check_size
from annotator.judgment_formats import JUDGMENT_FORMATS
from annotator.models import Project
from annotator.services import judgments_import
from config.errors import ApplicationError


class Command(BaseCommand):
    help = ("Import human judgments from a JSONL file into a project (all or nothing; by annotators "
            "imported/<name>; re-imports are idempotent).")

    def add_arguments(self, parser):
        parser.add_argument("project_id", type=int)
        parser.add_argument("file", help="JSONL file, or - for standard input.")
        parser.add_argument("--format", default="auto", choices=["auto", *JUDGMENT_FORMATS],
                            help="File format (default: detected from the first line).")

    def handle(self, *args, project_id, file, format, **options):
        project = Project.objects.filter(pk=project_id).first()
        if project is None:
            raise CommandError(f"No project with id {project_id}.")
        try:
            if file == "-":
                import sys

                report = judgments_import(project=project, stream=sys.stdin.buffer, file_format=format)
            else:
                path = Path(file)
                if not path.is_file():
                    raise CommandError(f"No such file: {file}")
                import_check_size(path.stat().st_size)
                with path.open("rb") as stream:
                    report = judgments_import(project=project, stream=stream, file_format=format)
        except ApplicationError as exc:
            raise CommandError(f"Nothing imported. {exc.message}")
        self.stdout.write(
            f"Imported {report.total} judgments ({report.format}) into {project.name!r}: {report.created} new, "
            f"{report.updated} updated, {report.unchanged} unchanged; annotators {', '.join(report.annotators)}."
        )
