"""Shared set-up of the bench scripts that drive Rubricate in-process against a PostgreSQL
database of their own (created and dropped by the script through `admin_sql`)."""

from __future__ import annotations

import http.client
import os
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
            gold_ranking, created_at, updated_at)
        SELECT %s, 'bench-' || g,
               jsonb_build_array(jsonb_build_object('role', 'user', 'content',
                   'Question ' || g || ': explain how a hash map handles collisions, with an example.')),
               '{}'::jsonb, md5(g::text), 0, true, floor(random() * 2147483646)::int, false, '[]'::jsonb,
               false, NULL, false, '[]'::jsonb, now(), now()
        FROM generate_series(1, %s) AS g
        """,
        [project_id, n],
    )
    cursor.execute(
        f"""
        INSERT INTO annotator_response (item_id, external_id, model_name, content, position, metadata,
            created_at, updated_at)
        SELECT i.id, i.external_id || '-' || p, 'model-' || p, {response_sql}, p, '{{}}'::jsonb, now(), now()
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
