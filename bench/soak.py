"""Soak: real annotators over HTTP against `make run`'s launcher on PostgreSQL + Redis.

    .venv/bin/python bench/soak.py [--annotators 200] [--seconds 600] [--items 100000] [--overlap 3]
                                   [--think 5 15] [--skip 0.05] [--abandon 0.02] [--keep]

Creates its own database (bench_soak on DATABASE_HOST, default 127.0.0.1:5432, user postgres), loads
the demo rubric into a project with the given overlap, writes the items (two responses each) with
generate_series and the annotators (one password hash for all), then starts `python -m
config.launch` (gunicorn + a Celery worker, as `make run` does) with DATABASE_URL and REDIS_URL
set, on a free port.

Each annotator is a browser without JavaScript's timers: it arrives at a random moment within the
first think time, logs in (GET and POST /login/, Argon2 as in production), opens the comparison
page, then loops until the time is up: think (uniform between the two --think values), then either
submit the full form through htmx (every criterion scored, a preference), skip the item (--skip),
or walk away (--abandon: the lease stays behind until it expires, and a fresh annotator
takes the seat). Answers that are 503 are retried after Retry-After; anything else 5xx is an error.

Prints p50/p95/p99 per endpoint, the status counts, throughput and the machine's load, then checks
the database: no item above the overlap, nobody twice on an item, item counters equal to the rows,
at most one live lease per annotator, and every submit answered 200 "Saved" stored. The database is
dropped at the end unless --keep. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict

from _common import (  # noqa: E402 - bench/ is the script's own folder
    CSRF_INPUT,
    HOST,
    ROOT,
    admin_sql,
    configure,
    fill_form,
    free_port,
    setup_annotation_project,
)

DB = configure("bench_soak")
PASSWORD = "soak-annotator-password-0123"
SUBMIT_URL = re.compile(r'hx-post="(/projects/\d+/annotate/(\d+)/submit/)"')
SKIP_URL = re.compile(r'hx-post="(/projects/\d+/annotate/\d+/skip/)"')


def setup(n_items: int, n_users: int, overlap: int) -> tuple[int, list[str]]:
    import django

    django.setup()
    t0 = time.perf_counter()
    usernames = [f"soak{i}" for i in range(n_users)]
    project_id = setup_annotation_project(
        name="Soak", n_items=n_items, usernames=usernames, password=PASSWORD, overlap=overlap,
        response_sql="'Answer ' || p || ' to item ' || i.id || ': a hash map keeps a bucket per hash value; '"
                     " || repeat('when two keys collide it chains them or probes for the next free slot. ', 3 + p)")
    print(f"set-up: {n_items:,} items, {n_users} annotators, overlap {overlap}: {time.perf_counter() - t0:.1f} s",
          flush=True)
    return project_id, usernames


def start_launcher(port: int, redis_url: str, log_path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": redis_url,
           "RUBRICATE_PORT": str(port), "RUBRICATE_HOST": "127.0.0.1", "HTTPS": "0", "LOG_LEVEL": "WARNING",
           "DJANGO_SETTINGS_MODULE": "config.settings"}
    log = open(log_path, "ab")  # noqa: SIM115 - kept open for the launcher's lifetime
    return subprocess.Popen([sys.executable, "-m", "config.launch"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


class Stats:
    def __init__(self):
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.status: Counter = Counter()
        self.errors: list[str] = []
        self.acked: set[int] = set()
        self.skipped = self.abandoned = self.next_unavailable = 0

    def record(self, endpoint: str, status: int | str, seconds: float) -> None:
        self.latency[endpoint].append(seconds)
        self.status[(endpoint, status)] += 1


async def request(client, stats: Stats, endpoint: str, method: str, url: str, deadline: float, **kw):
    """One request, retried while the server answers 503 or the connection breaks. None: out of time."""
    import httpx

    while time.monotonic() < deadline:
        began = time.perf_counter()
        try:
            response = await client.request(method, url, **kw)
        except httpx.TransportError as exc:
            stats.record(endpoint, type(exc).__name__, time.perf_counter() - began)
            stats.errors.append(f"{endpoint}: {type(exc).__name__}: {exc}")
            await asyncio.sleep(1)
            continue
        stats.record(endpoint, response.status_code, time.perf_counter() - began)
        if response.status_code == 503:
            await asyncio.sleep(float(response.headers.get("Retry-After", "5")))
            continue
        if response.status_code >= 500:
            stats.errors.append(f"{endpoint} {method} {url}: {response.status_code}")
        return response
    return None


async def annotator(base: str, project_id: int, seats: asyncio.Queue, stats: Stats, deadline: float,
                    think: tuple[float, float], p_skip: float, p_abandon: float) -> None:
    import httpx

    await asyncio.sleep(random.uniform(0, think[1]))  # people arrive over a think time, not all at once
    while time.monotonic() < deadline and not seats.empty():
        username = seats.get_nowait()
        async with httpx.AsyncClient(base_url=base, timeout=60, follow_redirects=True) as client:
            page = await request(client, stats, "GET /login/", "GET", "/login/", deadline)
            if page is None:
                return
            token = CSRF_INPUT.search(page.text).group(1)
            page = await request(client, stats, "POST /login/", "POST", "/login/", deadline,
                                 data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token})
            if page is None:
                return
            htmx = {"HX-Request": "true", "X-CSRFToken": client.cookies.get("csrftoken", "")}
            annotate = f"/projects/{project_id}/annotate/"
            page = await request(client, stats, "GET annotate (page)", "GET", annotate, deadline)
            walked_away = False
            while page is not None and time.monotonic() < deadline:
                found = SUBMIT_URL.search(page.text)
                if found is None:  # queue empty for me, or "next item unavailable": look again later
                    await asyncio.sleep(random.uniform(*think))
                    page = await request(client, stats, "GET annotate (htmx)", "GET", annotate, deadline,
                                         headers=htmx)
                    continue
                await asyncio.sleep(random.uniform(*think))
                if time.monotonic() >= deadline:
                    break
                roll = random.random()
                if roll < p_abandon:
                    stats.abandoned += 1  # the tab is closed: the lease stays until it expires
                    walked_away = True
                    break
                if roll < p_abandon + p_skip:
                    skip = SKIP_URL.search(page.text).group(1)
                    page = await request(client, stats, "POST skip", "POST", skip, deadline, headers=htmx)
                    stats.skipped += page is not None
                    continue
                url, assignment_id = found.group(1), int(found.group(2))
                page = await request(client, stats, "POST submit", "POST", url, deadline, headers=htmx,
                                     data=fill_form(page.text, rationale="soak"))
                if page is not None and page.status_code == 200 and ("Saved." in page.text
                                                                     or "Already saved" in page.text):
                    stats.acked.add(assignment_id)
                    stats.next_unavailable += "Next item unavailable" in page.text
                elif page is not None:
                    stats.errors.append(f"submit {assignment_id}: {page.status_code} without 'Saved'")
        if not walked_away:
            return  # out of time; a walked-away annotator's seat goes to a fresh one


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def check_database(project_id: int, overlap: int, stats: Stats) -> list[str]:
    from django.db import connection

    failures = []
    with connection.cursor() as c:
        def one(sql: str, *params):
            c.execute(sql, params)
            return c.fetchone()

        over = one("SELECT count(*) FROM (SELECT item_id FROM annotator_judgment j JOIN annotator_item i "
                   "ON i.id = j.item_id WHERE i.project_id = %s GROUP BY item_id HAVING count(*) > %s) t",
                   project_id, overlap)[0]
        twice = one("SELECT count(*) FROM (SELECT 1 FROM annotator_judgment GROUP BY item_id, annotator_id "
                    "HAVING count(*) > 1) t")[0]
        counters = one("SELECT count(*) FROM annotator_item i WHERE i.project_id = %s AND i.submitted_count <> "
                       "(SELECT count(*) FROM annotator_judgment j WHERE j.item_id = i.id)", project_id)[0]
        crowded = one("SELECT count(*) FROM annotator_item i WHERE i.project_id = %s AND i.submitted_count + "
                      "(SELECT count(*) FROM annotator_assignment a WHERE a.item_id = i.id AND a.status = 'leased' "
                      "AND a.lease_expires_at > now()) > %s", project_id, overlap)[0]
        multi = one("SELECT count(*) FROM (SELECT annotator_id FROM annotator_assignment a JOIN annotator_item i "
                    "ON i.id = a.item_id WHERE i.project_id = %s AND a.status = 'leased' AND a.lease_expires_at > "
                    "now() GROUP BY annotator_id HAVING count(*) > 1) t", project_id)[0]
        judgments, full = one("SELECT count(*), count(DISTINCT item_id) FILTER (WHERE n = %s) FROM (SELECT item_id, "
                              "count(*) OVER (PARTITION BY item_id) n FROM annotator_judgment) t", overlap)
        c.execute("SELECT assignment_id FROM annotator_judgment")
        stored = {row[0] for row in c.fetchall()}
    lost = stats.acked - stored
    print(f"\ndatabase: {judgments:,} judgments, {full:,} items complete with exactly {overlap}")
    for label, value in [("items above the overlap", over), ("an annotator twice on an item", twice),
                         ("item counters that differ from the rows", counters),
                         ("items with judgments + live leases above the overlap", crowded),
                         ("annotators holding more than one live lease", multi),
                         ("submits answered 'Saved' but not stored", len(lost))]:
        print(f"  {label}: {value}")
        if value:
            failures.append(label)
    if judgments < len(stats.acked):
        failures.append("fewer judgments than acknowledged submits")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--annotators", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--think", type=float, nargs=2, default=(5.0, 15.0), metavar=("MIN", "MAX"))
    parser.add_argument("--skip", type=float, default=0.05, help="share of items skipped")
    parser.add_argument("--abandon", type=float, default=0.02, help="share of items walked away from")
    parser.add_argument("--redis-url", default=os.environ.get("SOAK_REDIS_URL", "redis://127.0.0.1:6379/11"))
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()

    import redis

    admin_sql(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    admin_sql(f'CREATE DATABASE "{DB}"')
    redis.Redis.from_url(args.redis_url).flushdb()
    launcher = None
    try:
        seats = args.annotators * 2  # walked-away annotators are replaced by fresh ones
        project_id, usernames = setup(args.items, seats, args.overlap)
        port = free_port()
        log_path = ROOT / "var" / "bench" / "soak-launcher.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        launcher = start_launcher(port, args.redis_url, log_path)
        base = f"http://127.0.0.1:{port}"
        import httpx

        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if launcher.poll() is not None:
                raise SystemExit(f"the launcher exited; see {log_path}")
            time.sleep(0.5)
        else:
            raise SystemExit(f"the launcher did not become ready; see {log_path}")

        stats = Stats()
        queue: asyncio.Queue = asyncio.Queue()
        for name in usernames:
            queue.put_nowait(name)
        load_before = os.getloadavg()
        print(f"soak: {args.annotators} annotators, think {args.think[0]:g}-{args.think[1]:g} s, "
              f"{args.seconds:g} s, against {base} (config.launch: gunicorn + 1 worker, PostgreSQL {HOST}, "
              f"{args.redis_url})",
              flush=True)
        began = time.monotonic()

        async def run_all():
            end = time.monotonic() + args.seconds
            await asyncio.gather(*[
                annotator(base, project_id, queue, stats, end, tuple(args.think), args.skip, args.abandon)
                for _ in range(args.annotators)])

        asyncio.run(run_all())
        elapsed = time.monotonic() - began
        load_after = os.getloadavg()

        print(f"\n{'endpoint':<24}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        for endpoint, values in sorted(stats.latency.items()):
            ms = [v * 1000 for v in values]
            print(f"{endpoint:<24}{len(ms):>7}{pct(ms, 50):>9.0f}{pct(ms, 95):>9.0f}{pct(ms, 99):>9.0f}"
                  f"{max(ms):>9.0f}")
        print("\nstatus counts: " + ", ".join(f"{e} {s}: {n}" for (e, s), n in sorted(stats.status.items(),
                                                                                     key=lambda kv: str(kv[0]))))
        print(f"submits acknowledged: {len(stats.acked):,} ({len(stats.acked) / elapsed:.2f}/s over {elapsed:.0f} s); "
              f"skips {stats.skipped}; walked away {stats.abandoned}; 'next item unavailable' {stats.next_unavailable}")
        print(f"errors: {len(stats.errors)}" + "".join(f"\n  {e}" for e in stats.errors[:20]))
        print(f"machine: {os.cpu_count()} CPUs, load average before {load_before[0]:.2f}, after "
              f"{load_after[0]:.2f} (1 min), {load_after[1]:.2f} (5 min)")
        failures = check_database(project_id, args.overlap, stats)
        if stats.errors:
            failures.append(f"{len(stats.errors)} errors")
        print("\nOK" if not failures else f"\nFAILED: {', '.join(failures)}")
        return 1 if failures else 0
    finally:
        if launcher is not None and launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGINT)
            try:
                launcher.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(launcher.pid, signal.SIGKILL)
        if not args.keep:
            from django.db import connections

            connections.close_all()
            admin_sql(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
