"""manage.py import_items PROJECT_ID FILE [--format auto] [--gold]: the same import as the UI and API."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotator.formats import FORMATS, import_check_size
from annotator.models import Project
from annotator.services import items_import
from config.errors import ApplicationError


class Command(BaseCommand):
    help = "Import items from a JSONL file into a project (all or nothing; re-imports update by id)."

    def add_arguments(self, parser):
        parser.add_argument("project_id", type=int)
        parser.add_argument("file", help="JSONL file, or - for standard input.")
        parser.add_argument("--format", default="auto", choices=["auto", *FORMATS],
                            help="File format (default: detected from the first line).")
        parser.add_argument("--gold", action="store_true",
                            help="Use the labels of labelled formats (TRL, HelpSteer2, RewardBench) as gold answers.")

    def handle(self, *args, project_id, file, format, gold, **options):
        project = Project.objects.filter(pk=project_id).first()
        if project is None:
            raise CommandError(f"No project with id {project_id}.")
        try:
            if file == "-":
                import sys

                report = items_import(project=project, stream=sys.stdin.buffer, file_format=format, gold=gold)
            else:
                path = Path(file)
                if not path.is_file():
                    raise CommandError(f"No such file: {file}")
                import_check_size(path.stat().st_size)
                with path.open("rb") as stream:
                    report = items_import(project=project, stream=stream, file_format=format, gold=gold)
        except ApplicationError as exc:
            raise CommandError(f"Nothing imported. {exc.message}")
        self.stdout.write(
            f"Imported {report.total} items ({report.format}) into {project.name!r}: "
            f"{report.created} new, {report.updated} updated, {report.unchanged} unchanged."
        )
