"""Shared set-up of the bench scripts that drive Rubricate in-process against a PostgreSQL
database of their own (created and dropped by the script through `admin_sql`)."""

from __future__ import annotations

import os
import sys
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
