"""A real Celery worker process against the test database and Redis.

The worker is a separate `celery worker` process (prefork, one child), started with the test
database's real name so that it sees what the test commits. Tests here use
`transactional_db` (rows must be committed for another process to see them).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    def __init__(self, env: dict, queues: str, log_path: Path):
        self.env, self.queues, self.log_path = env, queues, log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", self.queues,
             "--concurrency", "1", "--pool", "prefork", "--loglevel", "INFO",
             "--hostname", f"test-{os.getpid()}-{time.monotonic_ns()}@%h", "--without-gossip",
             "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        from config.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_path.read_text()[-4000:]}")
            if app.control.ping(timeout=0.5):
                return
        raise RuntimeError(f"worker did not answer within {timeout}s:\n{self.log_path.read_text()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and its pool children), as a crash would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def celery_worker_factory(transactional_db, tmp_path):
    """celery_worker_factory(queues="default,gpu") → a started WorkerProcess; stopped at teardown."""
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    db_url = (
        f"postgres://{connection.settings_dict['USER']}:{connection.settings_dict['PASSWORD'] or ''}"
        f"@{connection.settings_dict['HOST']}:{connection.settings_dict['PORT']}/{connection.settings_dict['NAME']}"
    ) if connection.vendor == "postgresql" else f"sqlite:///{connection.settings_dict['NAME']}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings", "DATABASE_URL": db_url,
           "CELERY_TASK_ALWAYS_EAGER": "0"}
    workers: list[WorkerProcess] = []

    def make(queues: str = "default,gpu", extra_env: dict | None = None) -> WorkerProcess:
        w = WorkerProcess({**env, **(extra_env or {})}, queues, tmp_path / f"worker-{len(workers)}.log")
        w.start()
        workers.append(w)
        return w

    yield make
    for w in workers:
        w.stop()
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


@pytest.fixture
def celery_worker(celery_worker_factory):
    return celery_worker_factory()
