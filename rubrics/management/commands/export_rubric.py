"""Export a rubric version to standard output or a file."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from rubrics.formats import FORMS
from rubrics.models import RubricVersion
from rubrics.selectors import rubric_version_export


class Command(BaseCommand):
    help = "Export a rubric version (default: the newest published) as JSON or YAML."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The rubric set.")
        parser.add_argument("number", nargs="?", type=int, help="Version number (default: newest published).")
        parser.add_argument("--syntax", default="json", choices=["json", "yaml"])
        parser.add_argument("--form", default="rubricate", choices=list(FORMS))
        parser.add_argument("-o", "--output", help="Write to this file instead of standard output.")

    def handle(self, *args, **options):
        versions = RubricVersion.objects.select_related("rubric_set", "based_on").filter(
            rubric_set__slug=options["slug"])
        if options["number"] is not None:
            version = versions.filter(number=options["number"]).first()
        else:
            version = versions.filter(status=RubricVersion.Status.PUBLISHED).order_by("-number").first()
        if version is None:
            raise CommandError(f"No such version of {options['slug']!r}.")
        text = rubric_version_export(version=version, syntax=options["syntax"], form=options["form"])
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"Wrote {options['output']}")
        else:
            self.stdout.write(text, ending="")
