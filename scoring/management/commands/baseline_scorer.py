"""Give a fresh install its first scorer, the `length` baseline (idempotent; see
scoring.services.scorer_baseline_ensure). Run by `make run` and the compose web service."""

from django.core.management.base import BaseCommand

from scoring.services import scorer_baseline_ensure


class Command(BaseCommand):
    help = "Create the `length` baseline scorer when the install has no scorer yet."

    def handle(self, *args, **options):
        scorer = scorer_baseline_ensure()
        if scorer is not None:
            self.stdout.write(f"Scorer {scorer.name!r} (length baseline, characters) created.")
