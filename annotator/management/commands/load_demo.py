"""Load the shipped demo: a published rubric, a project and 20 items with two responses each."""

import json
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from annotator.models import Project, ProjectMembership
from annotator.services import membership_set, project_create
from rubrics.models import RubricSet
from rubrics.services import rubric_set_create_from_document

DEMO_DIR_ITEMS = Path(settings.BASE_DIR) / "annotator" / "demo" / "items.jsonl"
DEMO_RUBRIC = Path(settings.BASE_DIR) / "rubrics" / "demo" / "rubric.json"
DEMO_PROJECT = "Demo: general assistant comparisons"


class Command(BaseCommand):
    help = "Load the demo rubric, project and items (idempotent). Adds --member users as admins."

    def add_arguments(self, parser):
        parser.add_argument("--member", action="append", default=[],
                            help="Username to add to the demo project as admin (repeatable).")
        parser.add_argument("--superusers", action="store_true",
                            help="Add every superuser to the demo project as admin.")

    @transaction.atomic
    def handle(self, *args, member, superusers, **options):
        from annotator.services import items_import

        document = json.loads(DEMO_RUBRIC.read_text(encoding="utf-8"))
        rubric_set = RubricSet.objects.filter(slug=document["rubric_set"]["slug"]).first()
        version = (
            rubric_set.versions.filter(status="published").order_by("-number").first() if rubric_set else None
        )
        if version is None:
            version = rubric_set_create_from_document(document=document, actor=None, publish=True)
            self.stdout.write(f"Rubric {version.rubric_set.name} v{version.number} published.")

        project = Project.objects.filter(name=DEMO_PROJECT).first()
        if project is None:
            project = project_create(
                name=DEMO_PROJECT, created_by=None, rubric_version=version, overlap=2,
                description="Twenty realistic prompts, two model responses each: coding, maths, "
                "health, safety, writing. Pick the better response and score both against the rubric.",
                guidelines=(
                    "## How to judge\n\n1. Read the whole conversation, then both responses.\n"
                    "2. Score each response against every criterion.\n"
                    "3. Pick the better response and how much better it is; use *tie* only when "
                    "you cannot separate them, and *both bad* when neither is acceptable.\n"
                ),
            )
        report = items_import(project=project, stream=DEMO_DIR_ITEMS.open("rb"), file_format="native")
        User = get_user_model()
        if superusers:
            member = [*member, *User.objects.filter(is_superuser=True).values_list("username", flat=True)]
        for username in member:
            user = User.objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"No user {username!r}.")
            membership_set(project=project, user=user, role=ProjectMembership.Role.ADMIN)
        self.stdout.write(
            f"Demo project {project.name!r} (id {project.id}): {report.created} new items, "
            f"{report.updated} updated, {report.unchanged} unchanged."
        )
