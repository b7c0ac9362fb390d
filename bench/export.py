"""Export benchmark: N judgments in PostgreSQL, exported as JSONL through the real streaming path.

    .venv/bin/python bench/export.py                      # 1,000,000 judgments, then drop the DB
    .venv/bin/python bench/export.py --judgments 200000 --keep --formats judgments,trl,rubric_scores
    .venv/bin/python bench/export.py --reuse --keep --formats judgments,trl   # again, on the same data

What it does:
1. creates its own PostgreSQL database (default `bench_export`), migrates it;
2. generates the data server-side with generate_series (no Python per row): N/2 items with two
   responses each, 40 annotators, N submitted assignments + judgments (overlap 2), three criterion
   scores per response per judgment (6 per judgment), 1% adjudications, one reward-model score per
   response;
3. exports through `GET /api/v1/projects/{id}/export?format=…&as=jsonl` (a bearer token, DRF, the
   StreamingHttpResponse over a server-side cursor), reading the stream to the end without keeping it;
4. prints rows, bytes, seconds, rows/s, and the peak RSS growth of this process during the export
   (VmHWM after the export minus VmRSS before it; the high-water mark is reset first).

Figures are printed, never asserted. PG_URL picks the server (default postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _status_kb(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1))


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process on this machine (the PostgreSQL backend serving the export)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy_seconds() -> float:
    """CPU seconds that every core of the machine spent busy (not idle, not waiting on I/O) so far:
    with this process's own, it tells the database's share, parallel workers and peers included."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _reset_peak_rss() -> None:
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0).
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _psql_admin(pg_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{pg_url}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _defaults_for(model, given: dict[str, str]) -> tuple[list[str], list[str], list]:
    """Columns and SQL expressions for INSERT … SELECT: `given` plus every other concrete field's
    Python default as a parameter (models change while this script lives; this keeps it working)."""
    import json

    columns, exprs, params = [], [], []
    names = {f.name for f in model._meta.concrete_fields}
    unknown = set(given) - names
    given = {k: v for k, v in given.items() if k not in unknown}  # fields another branch dropped
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(f.column)
        if f.name in given:
            exprs.append(given[f.name])
            continue
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            exprs.append("now()")
            continue
        value = f.get_default()
        if f.get_internal_type() == "JSONField":
            exprs.append("%s::jsonb")
            params.append(json.dumps(value))
        else:
            exprs.append("%s")
            params.append(value)
    return columns, exprs, params


def _insert_select(cursor, model, given: dict[str, str], tail: str, tail_params: list | None = None) -> int:
    columns, exprs, params = _defaults_for(model, given)
    # `%` is the modulo operator in the SQL here; only `%s` is a placeholder.
    exprs = [re.sub(r"%(?!s)", "%%", e) for e in exprs]
    tail = re.sub(r"%(?!s)", "%%", tail)
    sql = f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(exprs)} {tail}"
    cursor.execute(sql, [*params, *(tail_params or [])])
    return cursor.rowcount


def generate(n_judgments: int) -> int:
    """Fill the database; returns the project id."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from annotator.models import (
        Adjudication,
        Assignment,
        CriterionJudgment,
        Item,
        Judgment,
        Project,
        ProjectMembership,
        Response,
    )
    from rubrics.models import Criterion, RubricSet, RubricVersion
    from rubrics.services import rubric_version_publish
    from scoring.models import ResponseScore, Scorer

    User = get_user_model()
    n_items = n_judgments // 2
    t0 = time.perf_counter()
    with transaction.atomic():
        owner = User.objects.create_user("bench-admin", password=None)
        rset = RubricSet.objects.create(name="Bench rubric", slug="bench")
        version = RubricVersion.objects.create(rubric_set=rset, number=1)
        for i, (key, scale, points) in enumerate(
            [("accurate", "binary", 5), ("helpful", "likert5", 3), ("harmful", "binary", -5)]
        ):
            Criterion.objects.create(version=version, key=key, title=key.title(), scale=scale, points=points,
                                     position=i)
        version = rubric_version_publish(version=version, actor=None)
        project = Project.objects.create(name="Bench project", rubric_version=version, overlap=2,
                                         created_by=owner)
        ProjectMembership.objects.create(project=project, user=owner, role="admin")
        annotators = [User(username=f"annotator{i:02d}", password="!") for i in range(40)]
        User.objects.bulk_create(annotators)
        ann_ids = list(User.objects.filter(username__startswith="annotator").order_by("id")
                       .values_list("id", flat=True))
        ProjectMembership.objects.bulk_create(
            [ProjectMembership(project=project, user_id=u, role="annotator") for u in ann_ids]
        )
        scorer = Scorer.objects.create(name="bench-rm", backend="length", revision="r1")
        criteria = list(version.criteria.order_by("position").values_list("id", flat=True))

        with connection.cursor() as cur:
            pid, a0, vid, sid = project.id, ann_ids[0], version.id, scorer.id
            _insert_select(
                cur, Item,
                {"project": str(pid), "external_id": "'item-' || g",
                 "prompt": """jsonb_build_array(jsonb_build_object('role', 'user', 'content',
                    'Question ' || g || ': explain how a reward model is trained from pairwise human '
                    || 'preferences, and what can go wrong when annotators disagree.'))""",
                 "metadata": "jsonb_build_object('source', 'bench', 'n', g)",
                 "submitted_count": "2", "is_open": "false"},
                "FROM generate_series(1, %s) g", [n_items],
            )
            cur.execute(f"SELECT min(id) FROM {Item._meta.db_table} WHERE project_id = %s", [pid])
            item0 = cur.fetchone()[0]
            _insert_select(
                cur, Response,
                {"item": "i.id", "external_id": "i.external_id || '-r' || p", "model_name": "'model-' || p",
                 "position": "p",
                 "content": """'Response ' || p || ' to ' || i.external_id || '. A reward model is fit with a '
                    || 'Bradley-Terry loss on (chosen, rejected) pairs: the loss is -log sigmoid(r_c - r_r). '
                    || 'Disagreement adds label noise; a margin term helps when strength is known.'"""},
                f"FROM {Item._meta.db_table} i CROSS JOIN generate_series(0, 1) p WHERE i.project_id = %s",
                [pid],
            )
            # Two assignments per item: annotators k and k+1 (mod 40), shown order flipped on odd ones.
            _insert_select(
                cur, Assignment,
                {"item": "i.id", "annotator": f"{a0} + ((i.id - {item0} + k) % 40)", "status": "'submitted'",
                 "leased_at": "now() - interval '2 days'", "lease_expires_at": "now() - interval '1 day'",
                 "submitted_at": "now() - ((i.id % 1000) || ' minutes')::interval",
                 "shown_order": f"""(SELECT CASE WHEN (i.id + k) % 2 = 0 THEN jsonb_agg(r.id ORDER BY r.position)
                                    ELSE jsonb_agg(r.id ORDER BY r.position DESC) END
                                    FROM {Response._meta.db_table} r WHERE r.item_id = i.id)"""},
                f"FROM {Item._meta.db_table} i CROSS JOIN generate_series(0, 1) k WHERE i.project_id = %s",
                [pid],
            )
            _insert_select(
                cur, Judgment,
                {"assignment": "a.id", "item": "a.item_id", "annotator": "a.annotator_id",
                 "rubric_version": str(vid),
                 # Mostly agreeing pairs: a per-item base preference, nudged per annotator.
                 "preference": "CASE WHEN a.id % 50 = 0 THEN NULL ELSE "
                               "greatest(-3, least(3, ((a.item_id * 7919) % 7) - 3 + ((a.id % 3) - 1))) END",
                 "both_bad": "a.id % 50 = 0",
                 "ranking": "'[]'::jsonb",
                 "rationale": "CASE WHEN a.id % 3 = 0 THEN 'The chosen answer names the loss and the "
                              "failure mode; the other one is vague.' ELSE '' END",
                 "time_spent_ms": "20000 + (a.id % 60000)", "submitted_at": "a.submitted_at"},
                f"FROM {Assignment._meta.db_table} a JOIN {Item._meta.db_table} i ON i.id = a.item_id "
                "WHERE i.project_id = %s",
                [pid],
            )
            _insert_select(
                cur, CriterionJudgment,
                {"judgment": "j.id", "response": "r.id", "criterion": "c.id",
                 "value": "CASE WHEN c.scale = 'likert5' THEN 1 + ((j.id + r.id) % 5) "
                          "ELSE ((j.id + r.id + c.id) % 2) END"},
                f"FROM {Judgment._meta.db_table} j JOIN {Item._meta.db_table} i ON i.id = j.item_id "
                f"JOIN {Response._meta.db_table} r ON r.item_id = j.item_id "
                f"JOIN {Criterion._meta.db_table} c ON c.id = ANY(%s) WHERE i.project_id = %s",
                [criteria, pid],
            )
            _insert_select(
                cur, Adjudication,
                {"item": "i.id", "reviewer": str(owner.id), "preference": "-2", "both_bad": "false",
                 "rationale": "'Response 1 is correct.'"},
                f"FROM {Item._meta.db_table} i WHERE i.project_id = %s AND i.id % 100 = 0", [pid],
            )
            _insert_select(
                cur, ResponseScore,
                {"response": "r.id", "scorer": str(sid), "input_hash": "md5(r.id::text)",
                 "value": "((r.id % 1000) / 100.0) - 5", "token_count": "length(r.content) / 4",
                 "model_revision": "'r1'"},
                f"FROM {Response._meta.db_table} r JOIN {Item._meta.db_table} i ON i.id = r.item_id "
                "WHERE i.project_id = %s",
                [pid],
            )
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    print(f"generated {n_items:,} items, {n_judgments:,} judgments, {6 * n_judgments:,} criterion scores "
          f"in {time.perf_counter() - t0:.1f} s")
    return project.id


def run_export(project_id: int, export_format: str) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from accounts.services import api_token_create

    user = get_user_model().objects.get(username="bench-admin")
    _, raw = api_token_create(user=user, name=f"bench {export_format} {time.time()}")
    client = Client()
    url = f"/api/v1/projects/{project_id}/export?format={export_format}&as=jsonl"
    # Warm-up: an empty export through the same path, so one-time imports are not counted.
    warm = client.get(url + "&submitted_after=2100-01-01", HTTP_AUTHORIZATION=f"Bearer {raw}")
    b"".join(warm.streaming_content)
    from django.db import connection

    with connection.cursor() as cursor:  # the same persistent connection serves the export
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    _reset_peak_rss()
    rss_before = _status_kb("VmRSS")
    pg_before, py_before, busy_before = _cpu_seconds(backend), time.process_time(), _machine_busy_seconds()
    t0 = time.perf_counter()
    response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200, response.content[:500]
    rows = n_bytes = 0
    for chunk in response.streaming_content:
        n_bytes += len(chunk)
        rows += chunk.count(b"\n")
    response.close()
    seconds = time.perf_counter() - t0
    peak = _status_kb("VmHWM")
    py_cpu, pg_cpu = time.process_time() - py_before, _cpu_seconds(backend) - pg_before
    busy = _machine_busy_seconds() - busy_before
    print(f"{export_format:>14} jsonl: {rows:>10,} rows  {n_bytes / 1e6:8.1f} MB  {seconds:6.1f} s  "
          f"{rows / seconds:>9,.0f} rows/s  peak RSS growth {(peak - rss_before) / 1024:6.1f} MB")
    if rows:
        # CPU time does not depend on what else the machine runs: the ceiling with two free cores.
        ceiling = rows / max(py_cpu, pg_cpu, 1e-9)
        print(f"{'':>14}        CPU per row: Python {py_cpu / rows * 1e6:5.1f} µs, PostgreSQL "
              f"{pg_cpu / rows * 1e6:5.1f} µs (load average {os.getloadavg()[0]:.1f}); "
              f"{ceiling:,.0f} rows/s when each has a core")
        print(f"{'':>14}        the whole machine busy {busy / rows * 1e6:5.1f} µs per row, of which this "
              f"process {py_cpu / rows * 1e6:5.1f} µs ({busy / seconds:.2f} of {os.cpu_count()} cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judgments", type=int, default=1_000_000)
    parser.add_argument("--db-name", default=os.environ.get("BENCH_DB", "bench_export"),
                        help="the database (default: $BENCH_DB, else bench_export)")
    parser.add_argument("--formats", default="judgments", help="comma-separated: judgments,trl,helpsteer2,"
                        "rubric_scores")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards (and reuse it)")
    parser.add_argument("--reuse", action="store_true", help="use an existing database made with --keep")
    args = parser.parse_args()

    pg_url = os.environ.get("PG_URL", "postgres://postgres@127.0.0.1:5432")
    if not args.reuse:
        _psql_admin(pg_url, f'DROP DATABASE IF EXISTS "{args.db_name}"')
        _psql_admin(pg_url, f'CREATE DATABASE "{args.db_name}"')
    os.environ["DATABASE_URL"] = f"{pg_url}/{args.db_name}"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
    os.environ.setdefault("HTTPS", "0")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ.setdefault("THROTTLE_EXPORT", "1000/hour")

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = ["*"]
    try:
        if args.reuse:
            from annotator.models import Project

            project_id = Project.objects.get(name="Bench project").id
        else:
            call_command("migrate", verbosity=0)
            project_id = generate(args.judgments)
        from django.db import connection

        connection.close()
        for export_format in filter(None, (f.strip() for f in args.formats.split(","))):
            run_export(project_id, export_format)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            _psql_admin(pg_url, f'DROP DATABASE IF EXISTS "{args.db_name}"')


if __name__ == "__main__":
    main()
