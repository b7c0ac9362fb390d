"""The annotator's round trip over HTTP: logged-in annotators driving the comparison page's endpoints.

    .venv/bin/python bench/http_annotate.py [--items 100000] [--duration 30] [--think-duration 120]

Creates its own database (bench_http on DATABASE_HOST, default 127.0.0.1:5432, user postgres) and
uses one Redis database (REDIS_URL, default redis://127.0.0.1:6379/15, emptied first). Loads the demo
rubric (7 criteria) into a project with overlap 2 and writes --items pairwise items with markdown
responses (PostgreSQL's generate_series, bench/_common.py), then renders their markup as a worker
does after an import (all of it, or the oldest --rendered N items); --done F first closes the oldest
fraction F of the items as judged by 50 earlier annotators (a project under way). Then starts the web server the way
`make run` does (config/launch.py's gunicorn command: its sizing from the cores, its options; the
app is bench/_http_wsgi.py, config.wsgi plus an X-SQL-Queries header) and drives it as browsers do:
every annotator logs in through the login page (CSRF token, django-axes in place), opens the
comparison page, then repeats the htmx POST of the judgment form whose answer is the next item
(every criterion scored for both responses, a preference, a rationale).

Phases, each with annotators of its own: 1 client and 8 clients in a closed loop (the next request
as soon as the answer is in) for --duration seconds; 50 annotators with an exponential think time of
10 s mean for --think-duration seconds. Per phase: p50/p95/p99 of the round trip, round trips/s,
server CPU per round trip (gunicorn's processes and the PostgreSQL backends, from /proc), Django's SQL
statements per round trip (the header) and transactions per round trip (pg_stat_database), and the
machine's load average (os.getloadavg) before and after. Afterwards the invariants are checked in SQL
(exactly `overlap` judgments per closed item, none over, counters equal to counts): exit status 1 if
one fails. The database is dropped at the end unless --keep.

The client runs on the same machine: its CPU time is in the load, not in the server's figures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

from _common import (  # noqa: E402 - bench/ is the script's folder
    CSRF_INPUT,
    ROOT,
    admin_sql,
    configure,
    fill_form,
    free_port,
    setup_annotation_project,
    start_server,
    stop_server,
    vacuum_analyze_loaded,
)

DB = configure("bench_http")
os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
PASSWORD = "bench-annotator-password-1"
TICKS = os.sysconf("SC_CLK_TCK")
# A response in markdown: a heading, a paragraph, a list and a highlighted code block, unique per item.
RESPONSE_SQL = (
    "'## Answer ' || p || E'\\n\\n' || repeat('A response paragraph with enough text to look real. ', 8) || i.id"
    " || E'\\n\\n- first point\\n- second point\\n\\n```python\\ndef lookup(table, key):\\n    return table[hash(key)"
    " %% ' || i.id || E']\\n```\\n'"
)


# --- Set-up ------------------------------------------------------------------------------------


# --done: the oldest items closed as if 50 earlier annotators had judged them (assignments and judgments
# written by PostgreSQL; the counter triggers keep the counters, so the invariants hold).
DONE_SQL = [
    """INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                              is_active, date_joined)
       SELECT '!', false, 'earlier' || g, '', '', '', false, true, now() FROM generate_series(0, 49) AS g""",
    """INSERT INTO annotator_projectmembership (project_id, user_id, role, judged_count, skipped_count, created_at)
       SELECT %(p)s, id, 'annotator', 0, 0, now() FROM auth_user WHERE username LIKE 'earlier%%'""",
    """WITH done AS (SELECT id FROM annotator_item WHERE project_id = %(p)s ORDER BY id LIMIT %(n)s),
            u AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM auth_user WHERE username LIKE 'earlier%%')
       INSERT INTO annotator_assignment (item_id, annotator_id, status, leased_at, lease_expires_at, shown_order,
                                         created_at, updated_at, submitted_at)
       SELECT d.id, u.id, 'submitted', now(), now(), '[]', now(), now(), now()
       FROM done d CROSS JOIN generate_series(0, %(overlap)s - 1) AS s(j) JOIN u ON u.k = (d.id + s.j) %% 50""",
    """INSERT INTO annotator_judgment (assignment_id, item_id, annotator_id, rubric_version_id, preference, both_bad,
                                      ranking, rationale, time_spent_ms, submitted_at, created_at, updated_at)
       SELECT a.id, a.item_id, a.annotator_id, NULL, 0, false, '[]', '', 1000, now(), now(), now()
       FROM annotator_assignment a JOIN auth_user u ON u.id = a.annotator_id WHERE u.username LIKE 'earlier%%'""",
    """UPDATE annotator_item SET submitted_count = %(overlap)s, is_open = false
       WHERE id IN (SELECT id FROM annotator_item WHERE project_id = %(p)s ORDER BY id LIMIT %(n)s)""",
]


def setup(n_items: int, n_annotators: int, overlap: int, rendered: int | None,
          done: float) -> tuple[int, list[str]]:
    import django

    django.setup()
    from django.core.cache import cache

    t0 = time.perf_counter()
    cache.clear()  # this Redis database only: sessions and cached markdown of an earlier run
    usernames = [f"annotator{i}" for i in range(n_annotators)]
    project_id = setup_annotation_project(name="HTTP bench", n_items=n_items, usernames=usernames,
                                          password=PASSWORD, overlap=overlap, response_sql=RESPONSE_SQL)
    import psycopg
    from django.db import connection

    from annotator.services.markup import items_render_markup

    # What a worker does after an import (annotator/services/markup.py): the items' markup rendered
    # and stored, oldest first; --rendered N stops after N items (the rest render on the page).
    t1 = time.perf_counter()
    n_rendered, _ = items_render_markup(project_id=project_id, limit=rendered)
    seconds = time.perf_counter() - t1
    print(f"markup of {n_rendered:,} items rendered and stored as a worker does after import: {seconds:.1f} s"
          f" ({n_rendered / max(seconds, 1e-9):,.0f} items/s, one process)", flush=True)
    connection.close()
    if done:
        with psycopg.connect(_dsn()) as conn:
            for sql in DONE_SQL:
                conn.execute(sql, {"p": project_id, "n": int(n_items * done), "overlap": overlap})
        print(f"{int(n_items * done):,} items already closed ({done:.0%}, {int(n_items * done) * overlap:,} judgments"
              " by 50 earlier annotators)", flush=True)
    with psycopg.connect(_dsn(), autocommit=True) as conn:
        vacuum_analyze_loaded(conn.cursor())
    print(f"{n_items:,} items, {n_annotators} annotators ready in {time.perf_counter() - t0:.1f} s", flush=True)
    return project_id, usernames


def _dsn() -> str:
    return os.environ["DATABASE_URL"].replace("postgres://", "postgresql://")


# --- A browser ---------------------------------------------------------------------------------

FORM = re.compile(r'<form id="judgment-form"[^>]*?\saction="([^"]+)"')


class Browser:
    """One annotator's browser: a keep-alive connection, cookies, the form it sees."""

    def __init__(self, port: int, username: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.username = username
        self.cookies: dict[str, str] = {}
        self.form: tuple[str, dict] | None = None

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # The server closed the idle keep-alive connection before reading this request (gunicorn's
            # --keep-alive, 2 s): it never ran, so send it again on a new connection, as a browser does.
            self.conn.close()
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
        text = response.read().decode()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response, text

    def login(self) -> None:
        _, page = self.request("GET", "/login/")
        token = CSRF_INPUT.search(page).group(1)
        response, _ = self.request("POST", "/login/", {"csrfmiddlewaretoken": token, "username": self.username,
                                                        "password": PASSWORD, "next": "/"})
        if response.status != 302 or "sessionid" not in self.cookies:
            raise SystemExit(f"login of {self.username} failed: HTTP {response.status}")

    def open(self, project_id: int) -> None:
        response, page = self.request("GET", f"/projects/{project_id}/annotate/")
        if response.status != 200:
            raise SystemExit(f"the comparison page answered HTTP {response.status}")
        self.form = self._read_form(page)

    @staticmethod
    def _read_form(page: str) -> tuple[str, dict] | None:
        """The judgment form of the page or partial, answered: None when the queue is empty."""
        action = FORM.search(page)
        if action is None:
            return None
        return action.group(1), {"csrfmiddlewaretoken": CSRF_INPUT.search(page).group(1), **fill_form(page)}

    def submit(self) -> tuple[float, int]:
        """The htmx POST of the form; its answer is the next item. (seconds, SQL statements)."""
        action, fields = self.form
        t0 = time.perf_counter()
        response, partial = self.request("POST", action, fields, {
            "HX-Request": "true", "HX-Target": "workspace", "X-CSRFToken": fields["csrfmiddlewaretoken"]})
        seconds = time.perf_counter() - t0
        if response.status != 200 or "Saved." not in partial:
            raise RuntimeError(f"submit answered HTTP {response.status}: {partial[:300]}")
        self.form = self._read_form(partial)
        return seconds, int(response.headers.get("X-SQL-Queries", "0"))


# --- Measuring ---------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, seconds (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


class Meter:
    """CPU seconds of the server (gunicorn master and workers) and of the database's backends, and
    the database's committed transactions, read before and after a phase."""

    def __init__(self, server: subprocess.Popen):
        import psycopg

        self.server = server
        self.db = psycopg.connect(_dsn(), autocommit=True)

    def read(self) -> dict:
        web = {pid: _cpu_seconds(pid) for pid in {self.server.pid} | _children(self.server.pid)}
        backends = {pid: _cpu_seconds(pid) for (pid,) in self.db.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")}
        (commits,) = self.db.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").fetchone()
        return {"web": web, "db": backends, "commits": commits}

    def delta(self, before: dict) -> dict:
        """Per process: CPU now minus CPU before (0 for a process that started meanwhile)."""
        after = self.read()

        def used(kind):
            return sum(cpu - before[kind].get(pid, 0.0) for pid, cpu in after[kind].items())

        # Each read commits a transaction of its own (the pg_stat query): not the server's.
        return {"web": used("web"), "db": used("db"), "commits": after["commits"] - before["commits"] - 1}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_phase(name: str, browsers: list[Browser], project_id: int, seconds: float, think: float,
              meter: Meter) -> dict:
    """Log every browser in, open the page, then submit in a loop (after a think time if `think`)."""
    for b in browsers:
        b.login()
        b.open(project_id)
    latencies: list[float] = []
    queries: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    load_before = os.getloadavg()
    before = meter.read()
    start = time.perf_counter()
    deadline = start + seconds

    def annotate(browser: Browser, rng: random.Random) -> None:
        if think:
            time.sleep(rng.uniform(0, think))  # not all at once
        while time.perf_counter() < deadline and browser.form is not None:
            if think:
                time.sleep(min(rng.expovariate(1 / think), max(0.0, deadline - time.perf_counter())))
                if time.perf_counter() >= deadline:
                    return
            try:
                latency, n = browser.submit()
            except Exception as exc:  # reported, and the phase goes on
                with lock:
                    errors.append(f"{browser.username}: {exc}")
                return
            with lock:
                latencies.append(latency)
                queries.append(n)

    threads = [threading.Thread(target=annotate, args=(b, random.Random(i))) for i, b in enumerate(browsers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    used = meter.delta(before)
    n = len(latencies)
    result = {"phase": name, "round_trips": n, "errors": len(errors), "seconds": round(elapsed, 1),
              "load_before": [round(x, 2) for x in load_before],
              "load_after": [round(x, 2) for x in os.getloadavg()]}
    if n:
        ms = [x * 1000 for x in latencies]
        result.update({
            "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(_pct(ms, 0.95), 1),
            "p99_ms": round(_pct(ms, 0.99), 1), "round_trips_per_s": round(n / elapsed, 1),
            "server_cpu_ms_per_round_trip": round(1000 * used["web"] / n, 2),
            "db_cpu_ms_per_round_trip": round(1000 * used["db"] / n, 2),
            "sql_statements_per_round_trip": round(sum(queries) / n, 2),
            "transactions_per_round_trip": round(used["commits"] / n, 2),
        })
    print(f"\n{name}: {n} round trips in {elapsed:.1f} s, {len(errors)} errors; load {result['load_before']} → "
          f"{result['load_after']}", flush=True)
    if n:
        print(f"  p50 {result['p50_ms']} ms   p95 {result['p95_ms']} ms   p99 {result['p99_ms']} ms   "
              f"{result['round_trips_per_s']} round trips/s\n"
              f"  server CPU {result['server_cpu_ms_per_round_trip']} ms + PostgreSQL CPU "
              f"{result['db_cpu_ms_per_round_trip']} ms per round trip; {result['sql_statements_per_round_trip']} "
              f"SQL statements and {result['transactions_per_round_trip']} transactions per round trip", flush=True)
    for e in errors[:3]:
        print(f"  error: {e}", flush=True)
    if any(b.form is None for b in browsers):
        print("  (the queue ran empty for some annotators: load more --items)", flush=True)
    return result


# --- Invariants --------------------------------------------------------------------------------

INVARIANTS = {
    "closed items with other than `overlap` judgments": """
        SELECT count(*) FROM annotator_item i WHERE i.project_id = %(p)s AND NOT i.is_open
          AND (SELECT count(*) FROM annotator_judgment j WHERE j.item_id = i.id) <> %(overlap)s""",
    "items with more than `overlap` judgments": """
        SELECT count(*) FROM (SELECT j.item_id FROM annotator_judgment j JOIN annotator_item i ON i.id = j.item_id
          WHERE i.project_id = %(p)s GROUP BY j.item_id HAVING count(*) > %(overlap)s) over""",
    "items whose judgments + live leases exceed `overlap`": """
        SELECT count(*) FROM annotator_item i WHERE i.project_id = %(p)s AND i.submitted_count
          + (SELECT count(*) FROM annotator_assignment a WHERE a.item_id = i.id AND a.status = 'leased'
             AND a.lease_expires_at > now()) > %(overlap)s""",
    "items whose submitted_count or open flag is not their judgments'": """
        SELECT count(*) FROM annotator_item i
          LEFT JOIN (SELECT item_id, count(*) AS n FROM annotator_judgment GROUP BY item_id) j ON j.item_id = i.id
          WHERE i.project_id = %(p)s
            AND (i.submitted_count <> coalesce(j.n, 0) OR i.is_open <> (coalesce(j.n, 0) < %(overlap)s))""",
    "project counters not equal to the counts": """
        SELECT count(*) FROM annotator_project pr WHERE pr.id = %(p)s
          AND (pr.item_count <> (SELECT count(*) FROM annotator_item WHERE project_id = pr.id)
               OR pr.judgment_count <> (SELECT count(*) FROM annotator_judgment j JOIN annotator_item i
                                        ON i.id = j.item_id WHERE i.project_id = pr.id))""",
    "members whose judged/skipped counters are not their counts": """
        SELECT count(*) FROM annotator_projectmembership m WHERE m.project_id = %(p)s
          AND (m.judged_count <> (SELECT count(*) FROM annotator_judgment j JOIN annotator_item i ON i.id = j.item_id
                                  WHERE i.project_id = m.project_id AND j.annotator_id = m.user_id)
               OR m.skipped_count <> (SELECT count(*) FROM annotator_assignment a JOIN annotator_item i
                                      ON i.id = a.item_id WHERE i.project_id = m.project_id
                                      AND a.annotator_id = m.user_id AND a.status = 'skipped'))""",
}


def check_invariants(project_id: int, overlap: int) -> bool:
    import psycopg

    ok = True
    print("\ninvariants (SQL):", flush=True)
    with psycopg.connect(_dsn(), autocommit=True) as conn:
        (judgments,) = conn.execute("SELECT count(*) FROM annotator_judgment").fetchone()
        for label, sql in INVARIANTS.items():
            (bad,) = conn.execute(sql, {"p": project_id, "overlap": overlap}).fetchone()
            ok = ok and bad == 0
            print(f"  {'ok  ' if bad == 0 else 'FAIL'} {label}: {bad}", flush=True)
    print(f"  ({judgments:,} judgments in all)", flush=True)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000, help="pairwise items to load (100000, 1000000)")
    parser.add_argument("--overlap", type=int, default=2)
    parser.add_argument("--clients", default="1,8", help="closed-loop phases: clients in each (default 1,8)")
    parser.add_argument("--duration", type=float, default=30, help="seconds of each closed-loop phase")
    parser.add_argument("--annotators", type=int, default=50, help="annotators of the think-time phase (0: none)")
    parser.add_argument("--think", type=float, default=10, help="their mean think time, seconds")
    parser.add_argument("--think-duration", type=float, default=120, help="seconds of the think-time phase")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--rendered", type=int, default=None,
                        help="items whose markup is rendered before the phases, oldest first (default: all)")
    parser.add_argument("--done", type=float, default=0.0,
                        help="fraction of the items already judged `overlap` times before the phases (0.5: half)")
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",") if c]

    admin_sql(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    admin_sql(f'CREATE DATABASE "{DB}"')
    server = None
    ok = False
    try:
        project_id, usernames = setup(args.items, sum(clients) + args.annotators, args.overlap,
                                       args.rendered, args.done)
        log = ROOT / "var" / "bench" / "http_annotate_server.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        port = free_port()
        server = start_server(port, log, app="_http_wsgi:application")
        meter = Meter(server)
        print(f"machine: {os.cpu_count()} CPU cores; client and server on it; PostgreSQL and Redis local",
              flush=True)
        results, used = [], 0
        for n in clients:
            browsers = [Browser(port, u) for u in usernames[used:used + n]]
            used += n
            results.append(run_phase(f"{n} closed-loop client{'s' if n > 1 else ''}", browsers, project_id,
                                     args.duration, 0, meter))
        if args.annotators:
            browsers = [Browser(port, u) for u in usernames[used:used + args.annotators]]
            results.append(run_phase(f"{args.annotators} annotators, {args.think:g} s mean think time",
                                     browsers, project_id, args.think_duration, args.think, meter))
        ok = check_invariants(project_id, args.overlap) and not any(r["errors"] for r in results)
        if args.json:
            args.json.write_text(json.dumps({"items": args.items, "overlap": args.overlap, "cores": os.cpu_count(),
                                             "phases": results, "invariants_ok": ok}, indent=2))
    finally:
        if server is not None:
            stop_server(server)
        if not args.keep:
            admin_sql(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
