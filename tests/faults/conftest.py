"""Fault tests: real processes, real outages, exact counts afterwards.

Each test starts what it breaks: its own `redis-server` on a free port (killed and restarted empty
at will) and, for the database outage, its own PostgreSQL cluster made with `initdb` and driven with
`pg_ctl` in a temporary directory. The shared PostgreSQL and Redis the rest of the suite uses are
never stopped. Workers and the web server are real `celery worker` / `gunicorn` processes; the
"web side" of a scoring run (starting it) runs in a separate Python process too, as it would in
production, so each process talks to the broker it was given.

Test-only behaviour (a slow batch, a kill at a precise moment, an out-of-memory error) is injected
into the worker through `hooks/sitecustomize.py` on PYTHONPATH; production code has no such switch.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
HOOKS = Path(__file__).resolve().parent / "hooks"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, log: str | callable = "", interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    text = log() if callable(log) else log
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}\n{text[-5000:]}")


# --- Redis ------------------------------------------------------------------------------------------
class RedisServer:
    """A private redis-server without persistence: a restart comes back empty, as after a crash of an
    instance without AOF, or a failover to an empty replica."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        log = (self.workdir / "redis.log").open("ab")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self.ping, 10, "redis-server to answer")

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: everything in it is gone."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def client(self, db: int = 0):
        import redis

        return redis.Redis(port=self.port, db=db)


@pytest.fixture
def private_redis(tmp_path):
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


# --- PostgreSQL -------------------------------------------------------------------------------------
def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found (install postgresql)")
    return path


class PostgresCluster:
    """A private PostgreSQL cluster (initdb + pg_ctl) in a temporary directory, on a free port.
    As root, the server runs as the `postgres` user (PostgreSQL refuses to run as root)."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.data = workdir / "data"
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([*self.as_user, *args], capture_output=True, text=True, timeout=120)
        if check and done.returncode:
            raise AssertionError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}\n{self.log()[-3000:]}")
        return done

    def init(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.as_user:
            shutil.chown(self.workdir, "postgres")
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--locale=C.UTF-8")
        self.start()

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c full_page_writes=off -c max_connections=100")
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.workdir / "server.log"),
                  "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def url(self, db: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def psql(self, sql: str, db: str = "postgres") -> str:
        out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db,
                              "-v", "ON_ERROR_STOP=1", "-Atqc", sql], check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def create_database_like_tests(self, name: str) -> None:
        """A database with the test database's schema (pg_dump --schema-only: seconds, not a full migrate)."""
        self.psql(f'CREATE DATABASE "{name}"')
        s = connection.settings_dict
        env = {**os.environ, "PGPASSWORD": s.get("PASSWORD") or ""}
        dump = subprocess.run(
            ["pg_dump", "-h", s["HOST"] or "127.0.0.1", "-p", str(s["PORT"] or 5432), "-U", s["USER"],
             "--schema-only", "--no-owner", "--no-privileges", s["NAME"]],
            check=True, capture_output=True, env=env)
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", name, "-q",
                        "-v", "ON_ERROR_STOP=1"], input=dump.stdout, check=True, capture_output=True)

    def log(self) -> str:
        path = self.workdir / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture
def private_postgres(transactional_db):
    # Not under pytest's tmp_path: that is private to root, and the server may run as `postgres`.
    workdir = Path(tempfile.mkdtemp(prefix="rubricate-faults-pg-"))
    workdir.chmod(0o755)
    cluster = PostgresCluster(workdir)
    try:
        cluster.init()
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)


# --- app processes -----------------------------------------------------------------------------------
def suite_database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD'] or ''}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def app_env(*, redis: RedisServer | None, database_url: str | None = None, **extra: str) -> dict:
    """The environment of an app process (web, worker, one-off) against these servers."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings",
           "DATABASE_URL": database_url or suite_database_url(), "REDIS_URL": redis.url() if redis else "",
           "CELERY_BROKER_URL": "", "CELERY_RESULT_BACKEND": "", "CELERY_TASK_ALWAYS_EAGER": "0",
           "PYTHONPATH": os.pathsep.join([str(HOOKS), str(ROOT)])}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def app_call(env: dict, function: str, **kwargs) -> dict:
    """Call tests/faults/app_side.py:<function>(**kwargs) in a new app process; its JSON answer."""
    proc = subprocess.run([sys.executable, "-m", "tests.faults.app_side", function, json.dumps(kwargs)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"app_side {function} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class Worker:
    """A `celery worker` process (prefork, one child) in its own process group."""

    def __init__(self, env: dict, log_path: Path, queues: str = "gpu"):
        self.env, self.log_path, self.queues = env, log_path, queues
        self.proc: subprocess.Popen | None = None

    def start(self, *, wait_ready: bool = True, timeout: float = 90) -> Worker:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", self.queues, "--concurrency", "1",
             "--pool", "prefork", "--loglevel", "INFO", "--hostname", f"fault-{time.monotonic_ns()}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        if wait_ready:
            wait_for(lambda: self._exited() or " ready." in self.log, timeout, "the worker to be ready", self.log)
            if self._exited():
                raise AssertionError(f"worker exited early:\n{self.log[-5000:]}")
        return self

    def _exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive:
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc:
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.alive:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def workers(transactional_db, tmp_path):
    """workers(env, queues="gpu") → a started Worker; every one is stopped at teardown (before the test database is
    flushed: this fixture comes after `transactional_db`)."""
    started: list[Worker] = []

    def make(env: dict, *, wait_ready: bool = True, queues: str = "gpu") -> Worker:
        worker = Worker(env, tmp_path / f"worker-{len(started)}.log", queues=queues).start(wait_ready=wait_ready)
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop()
