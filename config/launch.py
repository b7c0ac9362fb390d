"""`make run`: prepare the embedded set-up and run the web server and a Celery worker together.

Generates and keeps a SECRET_KEY in var/secret_key, migrates, collects static files, creates the
first administrator (password printed once) and the `length` baseline scorer, loads the demo,
then starts gunicorn on http://127.0.0.1:8000 and a worker for the `default` and `gpu` queues.
Ctrl-C stops both.
With DATABASE_URL / REDIS_URL set it uses PostgreSQL / Redis instead of SQLite / the
filesystem broker.

`python -m config.launch web [gunicorn options]` runs only the web server, sized the same way
(docker-compose's `web` service does, after its migrations).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("RUBRICATE_VAR_DIR", ROOT / "var"))
BIN = Path(sys.executable).parent


def _secret_key() -> str:
    path = VAR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def web_sizing() -> tuple[int, int]:
    """gunicorn's workers and threads per worker: WEB_CONCURRENCY / WEB_THREADS, else one worker
    process per core the process may run on (at least 2, so a slow request never stalls the site)
    and 4 threads each.

    Why: a request is mostly Python (the view, the template), which holds the GIL, so only processes
    use several cores; threads fill the waits on PostgreSQL and Redis, a few each. More workers than
    cores only adds context switches and memory. Each thread keeps its own database connection
    (CONN_MAX_AGE), so PostgreSQL needs workers × threads connections for the web server."""
    try:
        cores = len(os.sched_getaffinity(0))  # the cores this container or cgroup may use
    except AttributeError:  # macOS
        cores = os.cpu_count() or 1
    workers = int(os.environ.get("WEB_CONCURRENCY") or max(2, cores))
    threads = int(os.environ.get("WEB_THREADS") or 4)
    return workers, threads


def gunicorn_command(*options: str) -> list[str]:
    """The web server's command line: sized by `web_sizing`, then `options` (e.g. --bind)."""
    workers, threads = web_sizing()
    return [str(BIN / "gunicorn"), "config.wsgi", "--workers", str(workers),
            "--threads", str(threads), "--access-logfile", "-", "--graceful-timeout", "5", *options]


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], check=True, cwd=ROOT)


def main() -> int:
    if sys.argv[1:2] == ["web"]:
        command = gunicorn_command(*sys.argv[2:])
        os.execv(command[0], command)  # noqa: S606 - gunicorn replaces this process, no shell
    for sub in ("", "celery/queue", "celery/processed", "celery/control", "celery/results", "exports", "media"):
        (VAR / sub).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SECRET_KEY", _secret_key())
    os.environ.setdefault("HTTPS", "0")  # plain http on 127.0.0.1; production sets up TLS
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    host = os.environ.get("RUBRICATE_HOST", "127.0.0.1")
    port = os.environ.get("RUBRICATE_PORT", "8000")

    _manage("migrate", "--no-input", "-v", "0")
    _manage("collectstatic", "--no-input", "-v", "0")
    _manage("createadmin", "--if-none")
    _manage("baseline_scorer")
    _manage("load_demo", "--superusers")

    web = subprocess.Popen(gunicorn_command("--bind", f"{host}:{port}"), cwd=ROOT)
    worker = subprocess.Popen(
        [str(BIN / "celery"), "-A", "config", "worker", "-Q", "default,gpu", "--concurrency", "1",
         "--loglevel", "INFO", "--hostname", "rubricate-local@%h"], cwd=ROOT)
    print(f"\nRubricate is starting on http://{host}:{port}/  (Ctrl-C stops the server and the worker)\n",
          flush=True)

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and web.poll() is None and worker.poll() is None:
            time.sleep(0.5)
    finally:
        for proc in (web, worker):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in (web, worker):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
    print("Stopped the web server and the worker.")
    return 0 if stopping else 1


if __name__ == "__main__":
    sys.exit(main())
