"""`manage.py gpu_worker`: each replica of a scaled gpu-worker claims a GPU of its own."""

import os
from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from scoring.management.commands.gpu_worker import gpu_claim


def test_each_worker_claims_a_different_gpu_until_none_is_left(tmp_path):
    first, fd0 = gpu_claim(lock_dir=tmp_path, count=2)
    second, fd1 = gpu_claim(lock_dir=tmp_path, count=2)
    assert (first, second) == (0, 1)
    with pytest.raises(CommandError, match="scale gpu-worker to at most 2"):
        gpu_claim(lock_dir=tmp_path, count=2)
    os.close(fd0)  # that worker exited: its GPU is free again
    assert gpu_claim(lock_dir=tmp_path, count=2)[0] == 0
    os.close(fd1)


def test_the_command_runs_celery_on_the_claimed_gpu_keeping_the_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    held, held_fd = gpu_claim(lock_dir=tmp_path, count=3)  # another replica holds GPU 0
    with mock.patch("os.execvp") as execvp:
        call_command("gpu_worker", "--gpus", "3", "--lock-dir", str(tmp_path), "--", "--loglevel", "INFO")
    program, argv = execvp.call_args.args
    assert program == "celery" and argv[:8] == ["celery", "-A", "config", "worker", "-Q", "gpu", "--concurrency", "1"]
    assert argv[-3:] == ["gpu1@%h", "--loglevel", "INFO"]
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    assert held == 0 and (tmp_path / "gpu-1.lock").read_text().strip() == str(os.getpid())
    os.close(held_fd)


def test_no_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("GPU_COUNT", "0")
    with pytest.raises(CommandError, match="No GPU found"):
        call_command("gpu_worker")
