"""Import a rubric file (Rubricate JSON/YAML, HealthBench list, OpenRubrics) as a new version."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from config.errors import ApplicationError
from rubrics.models import RubricSet
from rubrics.services import rubric_import_text


class Command(BaseCommand):
    help = "Import a rubric document as a new rubric set (or a new version of --set). All or nothing."

    def add_arguments(self, parser):
        parser.add_argument("path", help="File to import, or - for standard input.")
        parser.add_argument("--set", dest="set_slug", help="Add the version to this existing set.")
        parser.add_argument("--name", help="Name of a new set (HealthBench and OpenRubrics files carry none).")
        parser.add_argument("--slug", help="Slug of a new set.")
        parser.add_argument("--syntax", default="auto", choices=["auto", "json", "yaml", "text"])
        parser.add_argument("--form", default="auto", choices=["auto", "rubricate", "healthbench", "openrubrics"])
        parser.add_argument("--publish", action="store_true", help="Publish the imported version at once.")

    def handle(self, *args, **options):
        import sys

        path = options["path"]
        content = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        rubric_set = None
        if options["set_slug"]:
            rubric_set = RubricSet.objects.filter(slug=options["set_slug"]).first()
            if rubric_set is None:
                raise CommandError(f"No rubric set {options['set_slug']!r}.")
        try:
            result = rubric_import_text(
                content=content, syntax=options["syntax"], form=options["form"], actor=None, rubric_set=rubric_set,
                set_meta={"name": options["name"], "slug": options["slug"]}, publish=options["publish"],
                source=Path(path).name if path != "-" else "stdin",
            )
        except ApplicationError as exc:
            details = "".join(f"\n  {p}: {m}" for p, m in exc.fields.items())
            raise CommandError(f"{exc.message}{details}\nNothing was imported.") from exc
        v = result.version
        self.stdout.write(f"Imported {v.rubric_set.slug} v{v.number} ({result.form}, {v.criteria.count()} criteria) "
                          f"as {v.status}." + (f" Content hash {v.content_hash}." if v.content_hash else ""))
