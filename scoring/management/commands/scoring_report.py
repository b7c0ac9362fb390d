"""manage.py scoring_report PROJECT_ID [--json]: the scoring report of a project, as on its runs page.

Per scorer: RewardBench accuracy against the human majority and against the gold labels side by
side, per subset and section, RewardBench 2 best-of-N, length bias; then the HealthBench rubric
scores per grader. Definitions: docs/scoring.md.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from annotator.models import Project
from scoring import reports


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


class Command(BaseCommand):
    help = "Print a project's scoring report (accuracy against human and gold labels, rubric scores)."

    def add_arguments(self, parser):
        parser.add_argument("project_id", type=int)
        parser.add_argument("--json", action="store_true", dest="as_json", help="The same figures as the API, as JSON.")

    def handle(self, *args, project_id, as_json: bool = False, **options):
        project = Project.objects.filter(pk=project_id).first()
        if project is None:
            raise CommandError(f"No project {project_id}.")
        rows = reports.project_report(project=project)
        rubric = reports.rubric_report(project=project)
        if as_json:
            self._json(rows, rubric)
            return
        self.stdout.write(f"Project {project.name!r} (id {project.id})")
        for scorer, report in rows:
            self.stdout.write(f"\n{scorer.name} ({scorer.backend})")
            for rep in (report, report.other):
                if rep is None or not rep.human_pairs:
                    if rep is not None:
                        self.stdout.write(f"  {rep.reference:<6} no decided pairs")
                    continue
                extra = [f"{rep.ties} ties"]
                if rep.failures:
                    extra.append(f"{rep.failures} unparsed")
                if rep.split:
                    extra.append(f"{rep.split} split orders")
                if rep.missing:
                    extra.append(f"{rep.missing} without scores")
                self.stdout.write(f"  {rep.reference:<6} accuracy {_pct(rep.accuracy):>7}  "
                                  f"({rep.correct}/{rep.compared} correct; {', '.join(extra)})")
                for label, value, note in rep.benchmarks:
                    self.stdout.write(f"           {label}: {_pct(value)}{f' ({note})' if note else ''}")
            self.stdout.write(f"  length: model picks the longer {_pct(report.model_longer_rate)}, "
                              f"reference {_pct(report.human_longer_rate)} of {report.length_pairs} pairs")
        for row in rubric:
            overall = row["overall"]
            error = f" ± {100 * overall['bootstrap_std']:.1f}" if overall["bootstrap_std"] is not None else ""
            self.stdout.write(f"\nRubric score, {row['judge']}: {_pct(overall['mean'])}{error} over "
                              f"{row['examples']} responses ({row['partial']} partial)")

    def _json(self, rows, rubric) -> None:
        out = {
            "accuracy": [{"scorer": {"id": s.id, "name": s.name, "backend": s.backend}, **r.as_dict()}
                         for s, r in rows],
            "rubric_scores": rubric,
        }
        self.stdout.write(json.dumps(out, indent=2, default=str))
