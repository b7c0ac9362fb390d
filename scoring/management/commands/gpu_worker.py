"""`manage.py gpu_worker`: one scoring worker per GPU, the GPU claimed with a lock file.

Docker Compose cannot give the replicas of a scaled service different GPUs (`count: 1` gives
every replica the same one). So each replica sees all GPUs and claims the first free one with an
exclusive `flock` on `<lock-dir>/gpu-<n>.lock` on a volume the replicas share; the kernel releases
the lock when the worker exits, however it exits. The command then replaces itself with
`celery -A config worker -Q gpu --concurrency 1` on that GPU (CUDA_VISIBLE_DEVICES), keeping the
lock open across the exec. Outside Docker it works the same way on any machine with several GPUs.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def gpu_count() -> int:
    """GPUs this machine shows: GPU_COUNT, else `nvidia-smi -L`, else torch (0 without CUDA)."""
    if os.environ.get("GPU_COUNT"):
        return int(os.environ["GPU_COUNT"])
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
            return sum(1 for line in out.splitlines() if line.startswith("GPU "))
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        import torch

        return torch.cuda.device_count()
    except ImportError:
        return 0


def gpu_claim(*, lock_dir: Path, count: int) -> tuple[int, int]:
    """(GPU index, open lock fd) of the first GPU no other worker holds; CommandError when all are
    taken. The fd stays open (and inheritable, so it survives the exec) for the worker's lifetime."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        fd = os.open(lock_dir / f"gpu-{index}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.set_inheritable(fd, True)
        return index, fd
    raise CommandError(f"All {count} GPU(s) already have a worker: scale gpu-worker to at most {count}.")


class Command(BaseCommand):
    help = "Claim a free GPU and run a Celery worker for the gpu queue on it (one process per GPU)."

    def add_arguments(self, parser):
        parser.add_argument("--lock-dir", default=None, help="directory shared by the workers of this machine "
                                                              "(default: $RUBRICATE_VAR_DIR/gpu-locks)")
        parser.add_argument("--gpus", type=int, default=None, help="GPUs to share out (default: all this machine has)")
        parser.add_argument("celery_args", nargs="*", help="extra celery worker arguments (after --)")

    def handle(self, *args, lock_dir=None, gpus=None, celery_args=(), **options):
        count = gpus if gpus is not None else gpu_count()
        if count < 1:
            raise CommandError("No GPU found (nvidia-smi and torch see none): run a plain "
                               "`celery -A config worker -Q gpu` worker instead.")
        lock_dir = Path(lock_dir or Path(settings.VAR_DIR) / "gpu-locks")
        index, _fd = gpu_claim(lock_dir=lock_dir, count=count)
        os.environ["CUDA_VISIBLE_DEVICES"] = str(index)
        self.stdout.write(f"gpu_worker: GPU {index} of {count} claimed ({lock_dir / f'gpu-{index}.lock'})")
        self.stdout.flush()
        argv = ["celery", "-A", "config", "worker", "-Q", "gpu", "--concurrency", "1",
                "--hostname", f"gpu{index}@%h", *celery_args]
        os.execvp(argv[0], argv)  # noqa: S606 - becomes the worker, a fixed argv
