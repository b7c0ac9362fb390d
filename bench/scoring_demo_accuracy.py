"""The length baseline's RewardBench accuracy on the demo project, computed both ways.

    python bench/scoring_demo_accuracy.py

The demo ships no judgments and no gold, so the script brings one set of labels: an engineer's
reading of the 20 demo pairs against the demo rubric (LABELS below; "a" = the first response).
It uses them twice, through the two code paths the report has:
1. human majority: one submitted judgment per demo item (strength 2 for the better response);
2. import gold: the same pairs written as RewardBench lines (chosen/rejected, subset = the demo
   category) and imported with gold=True into a second project, which has no judgments.
Then it runs the `length` scorer on both and prints `manage.py scoring_report` for each. Same
labels, so both accuracies must agree. Runs on a throwaway SQLite file; nothing else is touched.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import timedelta
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELS = {1: "b", 2: "a", 3: "b", 4: "a", 5: "a", 6: "b", 7: "b", 8: "a", 9: "b", 10: "a",
          11: "a", 12: "b", 13: "a", 14: "b", 15: "a", 16: "b", 17: "b", 18: "a", 19: "b", 20: "b"}


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="rubricate-demo-accuracy-"))
    sys.path.insert(0, str(ROOT))
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "SECRET_KEY": "bench-only-secret-key-0123456789abcdef0123456789", "REDIS_URL": "", "HTTPS": "0",
        "LOG_LEVEL": "WARNING", "RUBRICATE_VAR_DIR": str(tmp),
    })
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from annotator.models import Assignment, Judgment, Project, ProjectMembership
    from annotator.services import items_import_text
    from scoring import services

    call_command("migrate", verbosity=0)
    call_command("load_demo", stdout=StringIO())
    demo = Project.objects.get(name__startswith="Demo")
    users = get_user_model()
    labeller = users.objects.create_user("labeller")
    lead = users.objects.create_user("lead")
    root = users.objects.create_superuser("root")
    ProjectMembership.objects.create(project=demo, user=lead, role="admin")
    ProjectMembership.objects.create(project=demo, user=labeller, role="annotator")
    now = timezone.now()
    for item in demo.items.order_by("external_id"):
        better = LABELS[int(item.external_id.split("-")[1])]
        order = list(item.responses.order_by("position").values_list("id", flat=True))
        assignment = Assignment.objects.create(item=item, annotator=labeller, status="submitted", leased_at=now,
                                               lease_expires_at=now + timedelta(minutes=5), submitted_at=now,
                                               shown_order=order)
        Judgment.objects.create(assignment=assignment, item=item, annotator=labeller,
                                rubric_version=demo.rubric_version, preference=-2 if better == "a" else 2,
                                submitted_at=now)

    lines = []
    for line in (ROOT / "annotator" / "demo" / "items.jsonl").read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        first, second = obj["responses"]
        chosen, rejected = (first, second) if LABELS[int(obj["id"].split("-")[1])] == "a" else (second, first)
        lines.append(json.dumps({"id": obj["id"], "prompt": obj["messages"], "chosen": chosen["content"],
                                 "rejected": rejected["content"], "subset": obj["metadata"]["category"]}))
    gold = Project.objects.create(name="Demo as RewardBench lines (gold)", rubric_version=demo.rubric_version)
    ProjectMembership.objects.create(project=gold, user=lead, role="admin")
    items_import_text(project=gold, text="\n".join(lines), file_format="rewardbench", gold=True)

    services._enqueue_batches = lambda batch_ids: None  # no broker here: the batches run in-process
    length = services.scorer_create(actor=root, name="length", backend="length")
    for project in (demo, gold):
        run = services.scoring_run_start(project=project, scorer=length, actor=lead)
        for batch_id in run.batches.values_list("id", flat=True):
            services.scoring_batch_execute(batch_id=batch_id, worker="bench")
        call_command("scoring_report", project.id)
        print()


if __name__ == "__main__":
    main()
