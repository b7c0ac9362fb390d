"""Shared set-up of the bench scripts that drive Rubricate in-process against a PostgreSQL
database of their own (created and dropped by the script through `admin_sql`)."""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = os.environ.get("DATABASE_HOST", "127.0.0.1")


def configure(default_db: str) -> str:
    """Point Django at the bench database (BENCH_DB, else `default_db`); returns its name."""
    sys.path.insert(0, str(ROOT))
    db = os.environ.get("BENCH_DB", default_db)
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://postgres@{HOST}:5432/{db}",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key-0123456789abcdef0123456789"),
        "REDIS_URL": "", "HTTPS": "0", "LOG_LEVEL": "WARNING",
        "RUBRICATE_VAR_DIR": str(ROOT / "var" / "bench"),
    })
    return db


def admin_sql(sql: str) -> None:
    """Run one statement on the server's `postgres` database (CREATE/DROP DATABASE)."""
    import psycopg

    with psycopg.connect(f"postgresql://postgres@{HOST}:5432/postgres", autocommit=True) as conn:
        conn.execute(sql)


def insert_pairwise_items(cursor, project_id: int, n: int, response_sql: str) -> None:
    """n items of one user turn and two responses each, written by PostgreSQL itself (generate_series:
    faster than any client, 1,000,000 items in about a minute). `response_sql` is the SQL expression
    of a response's content over `i` (the item row) and `p` (its position, 0 or 1)."""
    cursor.execute(
        """
        INSERT INTO annotator_item (project_id, external_id, prompt, metadata, content_hash, submitted_count,
            is_open, queue_key, has_disagreement, disagreement, is_gold, gold_preference, gold_both_bad,
            gold_ranking, prompt_html, markup_version, created_at, updated_at)
        SELECT %s, 'bench-' || g,
               jsonb_build_array(jsonb_build_object('role', 'user', 'content',
                   'Question ' || g || ': explain how a hash map handles collisions, with an example.')),
               '{}'::jsonb, md5(g::text), 0, true, floor(random() * 2147483646)::int, false, '[]'::jsonb,
               false, NULL, false, '[]'::jsonb, '[]'::jsonb, 0, now(), now()
        FROM generate_series(1, %s) AS g
        """,
        [project_id, n],
    )
    cursor.execute(
        f"""
        INSERT INTO annotator_response (item_id, external_id, model_name, content, content_html, position,
            metadata, created_at, updated_at)
        SELECT i.id, i.external_id || '-' || p, 'model-' || p, {response_sql}, '', p, '{{}}'::jsonb, now(), now()
        FROM annotator_item i CROSS JOIN generate_series(0, 1) AS p
        WHERE i.project_id = %s
        """,  # noqa: S608 - response_sql is the calling script's constant
        [project_id],
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, log: Path, app: str = "config.wsgi") -> subprocess.Popen:
    """gunicorn as `make run` starts it (config.launch.gunicorn_command: sized from the cores, the same
    options), on 127.0.0.1:`port`, serving `app` (a module of bench/ or config.wsgi); its output goes
    to `log`. Returns once /healthz answers."""
    sys.path.insert(0, str(ROOT))
    from config.launch import gunicorn_command

    command = gunicorn_command("--bind", f"127.0.0.1:{port}", "--pythonpath", str(ROOT / "bench"))
    command[command.index("config.wsgi")] = app
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                print(f"server: gunicorn {' '.join(command[2:7])} … (pid {server.pid})", flush=True)
                return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit(f"the server did not start; see {log}")


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()


def vacuum_analyze_loaded(cursor) -> None:
    """VACUUM ANALYZE the tables that hold rows (an autocommit connection's cursor, Django's or
    psycopg's). An empty table is left never analyzed, as in a live database, where autovacuum
    analyzes a table once rows arrive: PostgreSQL plans a table never analyzed as at least 10 pages,
    and one analyzed empty as empty. A foreign-key check is planned once per connection and kept, so
    with the judgments' table analyzed empty each submit's 14 checks into it read every judgment made
    since, sequentially (issue 11: `perf` put sequential heap scans at 18% of the machine's CPU in
    the 8-client phase)."""
    cursor.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY 1")
    for (table,) in cursor.fetchall():
        cursor.execute(f'SELECT EXISTS (SELECT 1 FROM "{table}")')  # noqa: S608 - names from pg_class
        if cursor.fetchone()[0]:
            cursor.execute(f'VACUUM ANALYZE "{table}"')


def setup_annotation_project(*, name: str, n_items: int, usernames: list[str], password: str, overlap: int,
                             response_sql: str) -> int:
    """Migrate, load the demo rubric (7 criteria) into a new project with `overlap`, create the
    annotators (one password hash for all: Argon2 per user would take a while) and write the items
    (`insert_pairwise_items`). Returns the project's id. Django must be set up."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import connection

    from annotator.models import ProjectMembership
    from annotator.services import project_create
    from rubrics.services import rubric_set_create_from_document

    call_command("migrate", verbosity=0)
    document = json.loads((ROOT / "rubrics" / "demo" / "rubric.json").read_text())
    version = rubric_set_create_from_document(document=document, actor=None, publish=True)
    project = project_create(name=name, created_by=None, rubric_version=version, overlap=overlap,
                             randomize_order=True)
    User = get_user_model()
    hashed = make_password(password)
    users = User.objects.bulk_create([User(username=u, password=hashed) for u in usernames])
    ProjectMembership.objects.bulk_create(
        ProjectMembership(project=project, user=u, role=ProjectMembership.Role.ANNOTATOR) for u in users)
    with connection.cursor() as c:
        c.execute("SET synchronous_commit = off")
        insert_pairwise_items(c, project.id, n_items, response_sql)
    connection.close()
    with connection.cursor() as c:  # a new connection, in autocommit: VACUUM refuses a transaction
        vacuum_analyze_loaded(c)
    return project.id


# The comparison form as the page draws it (templates/annotator/annotate.html).
RADIO = re.compile(r'<input type="radio" name="(score-\d+-\d+)" value="([^"]*)"')
NUMBER = re.compile(r'<input type="number" class="points-input" name="(score-\d+-\d+)"[^>]*min="(-?[\d.]+)"')
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def fill_form(html: str, rationale: str = "bench") -> dict[str, str]:
    """The full judgment of the page's item: one choice per criterion and response, a preference."""
    data: dict[str, str] = {}
    choices: dict[str, list[str]] = {}
    for name, value in RADIO.findall(html):
        choices.setdefault(name, []).append(value)
    for name, values in choices.items():
        data[name] = random.choice(values)
    for name, low in NUMBER.findall(html):
        data[name] = str(max(0.0, float(low)))
    data["preference"] = str(random.randint(-3, 3))
    data["rationale"] = rationale
    data["time_spent_ms"] = str(random.randint(3000, 20000))
    return data
