"""The SQLite fallback of the queue (the embedded `make run` set-up), under real threads."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_on_sqlite_threads_racing_for_items_still_leave_exactly_overlap_judgments(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'race.sqlite3'}",
        "SECRET_KEY": "sqlite-race-test-key-0123456789abcdef0123456789",
        "REDIS_URL": "",
        "HTTPS": "0",
        "RUBRICATE_VAR_DIR": str(tmp_path),
    }
    done = subprocess.run([sys.executable, "-m", "tests.annotator.sqlite_race"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["vendor"] == "sqlite"
    assert result["errors"] == []
    assert result["judged_items"] == result["items"]
    assert result["judgments_per_item"] == [result["overlap"]]
    assert result["counters"] == [result["overlap"]]
