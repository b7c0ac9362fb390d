"""Insights benchmark: the computation on N judgments, then the time to serve each page from the snapshot.

    .venv/bin/python bench/insights.py                     # 1,000,000 judgments, then drop the DB
    .venv/bin/python bench/insights.py --judgments 100000 --keep
    .venv/bin/python bench/insights.py --reuse --keep      # a database made earlier with --keep

What it does:
1. creates its own PostgreSQL database (BENCH_DB, default `bench_insights`), migrates it and fills
   it with bench/export.py's generator: N/2 items with two responses each (two models), 40
   annotators, N judgments (overlap 2) with three criterion scores per response (6 N criterion
   scores), 1 % adjudications, one reward-model score per response;
2. computes the project's Insights through the Celery task (`insights_compute_task.apply`, the
   worker's code path, in this process so that its memory can be measured) while a thread prints
   the progress the task writes; prints the wall time, the CPU time of this process, and the peak
   RSS growth (VmHWM after minus VmRSS before; the high-water mark is reset first);
3. serves every Insights page and two API tables (JSON and CSV) through Django's test client,
   `--repeat` times each, and prints the median and the slowest server time and the query count.

Figures are printed, never asserted. The machine's load average is printed with them: on a
shared machine the wall time is mostly waiting for a core, and the CPU time is the figure to compare.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import sys
import threading
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, admin_sql, configure  # noqa: E402


def _status_kb(field: str) -> int:
    return int(re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M).group(1))


def _reset_peak_rss() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)


def _load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"


def _watch(snapshot_id: int, stop: threading.Event, started: float) -> None:
    """Print the progress the task writes (read through this thread's own connection)."""
    from django.db import connection

    from insights.models import InsightsSnapshot

    last = None
    while not stop.wait(5):
        row = InsightsSnapshot.objects.filter(pk=snapshot_id).values_list("status", "progress", "stage").first()
        if row != last:
            print(f"  {time.perf_counter() - started:7.1f} s  {row[0]:>8}  {row[1]:5.0%}  {row[2]}", flush=True)
            last = row
    connection.close()


def compute(project) -> None:
    from django.conf import settings

    from insights.models import InsightsSnapshot
    from insights.services import insights_refresh
    from insights.tasks import insights_compute_task

    with mock.patch("insights.tasks.insights_compute_task.delay"):  # queued here, run below
        snapshot = insights_refresh(project=project, user=None)
    if str(settings.CELERY_RESULT_BACKEND).startswith("file://"):  # the task's result is stored there
        Path(settings.CELERY_RESULT_BACKEND[len("file://"):]).mkdir(parents=True, exist_ok=True)
    import numpy  # noqa: F401 - one-time imports are not the computation's
    import scipy.optimize  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    print(f"computing ({_load()})", flush=True)
    _reset_peak_rss()
    rss_before = _status_kb("VmRSS")
    cpu_before = time.process_time()
    started = time.perf_counter()
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(snapshot.pk, stop, started), daemon=True)
    watcher.start()
    result = insights_compute_task.apply(args=[snapshot.pk]).get()
    seconds = time.perf_counter() - started
    stop.set()
    watcher.join()
    cpu = time.process_time() - cpu_before
    peak = _status_kb("VmHWM")
    snapshot = InsightsSnapshot.objects.get(pk=snapshot.pk)
    print(f"compute: {result}, {snapshot.judgments:,} judgments in {seconds:.1f} s wall, {cpu:.1f} s CPU of this "
          f"process ({snapshot.judgments / max(cpu, 1e-9):,.0f} judgments per CPU second); peak RSS growth "
          f"{(peak - rss_before) / 1024:.1f} MB ({_load()})")
    sizes = {f: len(str(getattr(snapshot, f))) for f in ("agreement", "annotators", "scorers", "rubric",
                                                        "leaderboard")}
    print("stored sections (characters of JSON): " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()))


def serve(project, repeat: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user = get_user_model().objects.get(username="bench-admin")
    client = Client()
    client.force_login(user)
    base, api = f"/projects/{project.pk}/insights/", f"/api/v1/projects/{project.pk}/insights/"
    urls = [base, base + "agreement/", base + "annotators/", base + "scorers/", base + "rubric/",
            base + "leaderboard/", api, api + "tables/annotators", api + "tables/agreement-pairs?as=csv"]
    print(f"serving each page {repeat} times ({_load()})")
    worst = worst_cpu = 0.0
    for url in urls:
        client.get(url)  # first use: templates compiled, session loaded
        times, cpu = [], []
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as queries:
                started, cpu_started = time.perf_counter(), time.process_time()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - cpu_started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        worst = max(worst, statistics.median(times))
        worst_cpu = max(worst_cpu, statistics.median(cpu))
        print(f"  {url:<58} median {statistics.median(times):6.1f} ms (CPU {statistics.median(cpu):5.1f} ms)  "
              f"max {max(times):6.1f} ms  {len(queries)} queries  {len(response.content) / 1024:6.1f} KB")
    print(f"slowest page (median): {worst:.1f} ms of server time, {worst_cpu:.1f} ms of CPU ({_load()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judgments", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="use the database a --keep run left")
    parser.add_argument("--serve-only", action="store_true", help="with --reuse: serve the stored snapshot only")
    args = parser.parse_args()

    db = configure("bench_insights")
    os.environ["INSIGHTS_REPLICATES"] = os.environ.get("INSIGHTS_REPLICATES", "1000")
    if not args.reuse:
        admin_sql(f'DROP DATABASE IF EXISTS "{db}"')
        admin_sql(f'CREATE DATABASE "{db}"')
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = ["*"]
    try:
        call_command("migrate", verbosity=0)
        from annotator.models import Project

        if args.reuse:
            project = Project.objects.get(name="Bench project")
        else:
            from export import generate  # bench/export.py's generator

            project = Project.objects.get(pk=generate(args.judgments))
        if not args.serve_only:
            compute(project)
        serve(project, args.repeat)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            admin_sql(f'DROP DATABASE IF EXISTS "{db}"')


if __name__ == "__main__":
    assert ROOT.exists()
    main()
