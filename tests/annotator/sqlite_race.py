"""Run the queue race on the embedded SQLite configuration (a subprocess of test_queue_sqlite.py).

Usage: python -m tests.annotator.sqlite_race  (with DATABASE_URL=sqlite:///… and SECRET_KEY set).
Migrates a fresh SQLite file, then threads as annotators ask for the next item and submit until the
queue is empty; prints one JSON line with what the database holds afterwards.
"""

import json
import os
import threading

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.db.models import Count  # noqa: E402

from annotator.models import Item, Judgment  # noqa: E402
from annotator.services import assignment_next_for_user, judgment_submit  # noqa: E402
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory, published_version  # noqa: E402
from tests.helpers import valid_input  # noqa: E402

ANNOTATORS, THREADS_PER_ANNOTATOR, OVERLAP, ITEMS = 5, 2, 2, 30


def main() -> None:
    call_command("migrate", verbosity=0)
    project = ProjectFactory(rubric_version=published_version(criteria=2), overlap=OVERLAP)
    for _ in range(ITEMS):
        ItemFactory(project=project)
    users = [UserFactory(username=f"lite{i}") for i in range(ANNOTATORS)]
    for user in users:
        MembershipFactory(project=project, user=user)
    errors: list[str] = []

    def work(user):
        try:
            while (a := assignment_next_for_user(project=project, user=user)) is not None:
                judgment_submit(assignment=a, data=valid_input(a))
        except Exception as exc:  # noqa: BLE001 - reported to the test
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(u,)) for u in users for _ in range(THREADS_PER_ANNOTATOR)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    per_item = list(Judgment.objects.values("item_id").annotate(n=Count("id")).values_list("n", flat=True))
    print(json.dumps({
        "vendor": connection.vendor,
        "errors": errors,
        "items": ITEMS,
        "overlap": OVERLAP,
        "judgments_per_item": sorted(set(per_item)),
        "judged_items": len(per_item),
        "counters": sorted(set(Item.objects.values_list("submitted_count", flat=True))),
    }))


if __name__ == "__main__":
    main()
