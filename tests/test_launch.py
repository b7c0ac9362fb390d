"""config.launch sizes gunicorn from the cores it may use (docs/operations.md, "Sizing")."""

import os

from config import launch


def test_the_web_server_runs_one_worker_per_usable_core_with_four_threads(monkeypatch):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.delenv("WEB_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(6)), raising=False)
    assert launch.web_sizing() == (6, 4)
    command = launch.gunicorn_command("--bind", "127.0.0.1:8000")
    assert command[command.index("--workers") + 1] == "6" and command[command.index("--threads") + 1] == "4"
    assert command[-2:] == ["--bind", "127.0.0.1:8000"]


def test_one_core_still_gets_two_workers_and_the_environment_overrides(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.setenv("WEB_THREADS", "2")
    assert launch.web_sizing() == (2, 2)
    monkeypatch.setenv("WEB_CONCURRENCY", "5")
    assert launch.web_sizing() == (5, 2)
