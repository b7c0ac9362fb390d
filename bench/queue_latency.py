"""Queue latency: next-item and submit with 1,000,000 items and 50 concurrent annotators, PostgreSQL.

    .venv/bin/python bench/queue_latency.py [--items 1000000] [--annotators 50] [--seconds 60] [--think 10 1 0]

Creates its own database (bench_queue on DATABASE_HOST, default 127.0.0.1:5432, user postgres), loads
the demo rubric (7 criteria) into a project with overlap 3, writes the items and two responses each
with generate_series (30% of them already complete, so the queue must skip a large done region), then
runs the annotators as real processes × threads with their own connections, each looping
"next item → submit a full judgment (7 criteria × 2 responses)". One phase per --think value
(default 10, 1 and 0 s): every annotator waits an exponential think time with that mean between
getting an item and submitting it; 0 means no pause at all (every annotator hammers the queue).

Prints p50/p95/p99 of next-item and submit per phase, throughput, and checks the invariants
afterwards (no item over the overlap, counters exact, nobody judged an item twice). The database is
dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import statistics
import threading
import time

from _common import ROOT, admin_sql, configure, insert_pairwise_items, vacuum_analyze_loaded  # noqa: E402 - bench/ is the script's folder

DB = configure("bench_queue")


def setup(n_items: int, n_annotators: int) -> tuple[int, list[int]]:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from annotator.models import ProjectMembership
    from annotator.services import project_create
    from rubrics.services import rubric_set_create_from_document

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    document = json.loads((ROOT / "rubrics" / "demo" / "rubric.json").read_text())
    version = rubric_set_create_from_document(document=document, actor=None, publish=True)
    project = project_create(name="Queue bench", created_by=None, rubric_version=version, overlap=3)
    User = get_user_model()
    users = User.objects.bulk_create([User(username=f"bench{i}") for i in range(n_annotators)])
    ProjectMembership.objects.bulk_create(
        ProjectMembership(project=project, user=u, role=ProjectMembership.Role.ANNOTATOR) for u in users)
    print(f"schema and users: {time.perf_counter() - t0:.1f} s", flush=True)

    t0 = time.perf_counter()
    with connection.cursor() as c:
        c.execute("SET synchronous_commit = off")
        insert_pairwise_items(c, project.id, n_items,
                              "repeat('A response paragraph with enough text to look real. ', 12) || i.id")
        print(f"{n_items:,} items and {2 * n_items:,} responses: {time.perf_counter() - t0:.1f} s", flush=True)
        # 30% already done (counters only): "next" must find open items past a large completed region.
        c.execute(
            "UPDATE annotator_item SET submitted_count = 3, is_open = false WHERE project_id = %s AND id < "
            "(SELECT min(id) FROM annotator_item WHERE project_id = %s) + %s",
            [project.id, project.id, int(n_items * 0.3)],
        )
    connection.close()
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"].replace("postgres://", "postgresql://"),
                         autocommit=True) as conn:
        vacuum_analyze_loaded(conn.cursor())
    print(f"data ready in {time.perf_counter() - t0:.1f} s", flush=True)
    return project.id, [u.id for u in users]


def _judgment(assignment, criteria):
    from annotator.services import JudgmentInput

    responses = list(assignment.item.responses.values_list("id", flat=True))
    value = {"binary": 1, "likert5": 4, "points": 0}
    return JudgmentInput(
        preference=random.choice([-3, -2, -1, 0, 1, 2, 3]),
        scores={(r, c.id): value[c.scale] for r in responses for c in criteria},
        rationale="bench", time_spent_ms=15000,
    )


def worker(project_id: int, user_ids: list[int], seconds: float, think: float, out: mp.Queue) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connections

    from annotator.models import Project
    from annotator.selectors import criteria_for_project
    from annotator.services import assignment_next_for_user, judgment_submit

    project = Project.objects.get(pk=project_id)
    criteria = criteria_for_project(project=project)
    users = list(get_user_model().objects.filter(pk__in=user_ids))
    connections.close_all()
    results = {"next": [], "submit": [], "errors": [], "empty": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def annotate(user):
        local = {"next": [], "submit": [], "errors": [], "empty": 0}
        rng = random.Random(user.pk)
        warm = False  # each annotator's first round (new connection, cold caches) is not counted
        try:
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                assignment = assignment_next_for_user(project=project, user=user)
                if warm:
                    local["next"].append(time.perf_counter() - t0)
                if assignment is None:
                    local["empty"] += 1
                    time.sleep(0.5)
                    continue
                data = _judgment(assignment, criteria)  # the "browser": not timed
                if think:
                    time.sleep(rng.expovariate(1 / think))
                t0 = time.perf_counter()
                judgment_submit(assignment=assignment, data=data)
                if warm:
                    local["submit"].append(time.perf_counter() - t0)
                warm = True
        except Exception as exc:  # noqa: BLE001 - reported, the bench must not hide errors
            local["errors"].append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()
        with lock:
            for key in ("next", "submit", "errors"):
                results[key].extend(local[key])
            results["empty"] += local["empty"]

    threads = [threading.Thread(target=annotate, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(results)


def run_phase(name: str, project_id: int, user_ids: list[int], processes: int, seconds: float, think: float) -> None:
    from django.db import connections

    connections.close_all()
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    groups = [user_ids[i::processes] for i in range(processes)]
    procs = [ctx.Process(target=worker, args=(project_id, g, seconds, think, out)) for g in groups if g]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    merged = {"next": [], "submit": [], "errors": [], "empty": 0}
    for _ in procs:
        r = out.get()
        for key in ("next", "submit", "errors"):
            merged[key].extend(r[key])
        merged["empty"] += r["empty"]
    for p in procs:
        p.join()
    wall = time.perf_counter() - t0
    load = os.getloadavg()[0]

    def pct(values, q):
        if not values:
            return float("nan")
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000

    pace = f"{think:.1f} s mean" if think else "none"
    print(f"\n{name}: {len(user_ids)} annotators ({processes} processes), {seconds:.0f} s, think time {pace}, "
          f"load average at the end {load:.1f}")
    print(f"  judgments submitted (after each annotator's first): {len(merged['submit']):,} "
          f"({len(merged['submit']) / wall:.1f}/s), "
          f"errors: {len(merged['errors'])}, empty-queue answers: {merged['empty']}")
    print(f"  {'operation':<12}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}{'n':>9}")
    for op in ("next", "submit"):
        v = merged[op]
        print(f"  {op:<12}{pct(v, 50):>10.1f}{pct(v, 95):>10.1f}{pct(v, 99):>10.1f}"
              f"{(max(v) * 1000 if v else float('nan')):>10.1f}{len(v):>9,}")
    for e in merged["errors"][:5]:
        print("  error:", e)


def check_invariants(project_id: int) -> None:
    from django.db.models import Count, F

    from annotator.models import Item, Judgment

    over = Item.objects.filter(project_id=project_id, submitted_count__gt=3).count()
    per_item = Judgment.objects.filter(item__project_id=project_id).values("item_id").annotate(n=Count("id"))
    mismatched = Item.objects.filter(project_id=project_id, judgments__isnull=False).annotate(
        n=Count("judgments")).exclude(submitted_count=F("n")).count()
    twice = Judgment.objects.values("item_id", "annotator_id").annotate(n=Count("id")).filter(n__gt=1).count()
    print(f"\ninvariants: items over overlap: {over}; items with 4+ judgments: "
          f"{per_item.filter(n__gt=3).count()}; counters off: {mismatched}; judged twice: {twice}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--processes", type=int, default=10, help="annotators are spread over this many processes")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--think", type=float, nargs="+", default=[10.0, 1.0, 0.0],
                        help="one phase per value: mean think time between items in seconds (0: none)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()

    admin_sql(f'DROP DATABASE IF EXISTS "{DB}"')
    admin_sql(f'CREATE DATABASE "{DB}"')
    try:
        project_id, user_ids = setup(args.items, args.annotators)
        import django

        print(f"PostgreSQL, Django {django.get_version()}, {os.cpu_count()} CPU cores shared by the database "
              "and the annotators")
        for think in args.think:
            name = "saturated" if think == 0 else f"think time {think:g} s"
            run_phase(name, project_id, user_ids, args.processes, args.seconds, think)
        check_invariants(project_id)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            admin_sql(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')


if __name__ == "__main__":
    main()
