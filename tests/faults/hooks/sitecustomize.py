"""Fault injection for the worker processes of tests/faults (on PYTHONPATH only there).

Switches, all from the environment:

- FAULT_SLOW_BATCH_SECONDS: each length-backend batch sleeps this long first (a run that lasts).
- FAULT_KILL_BEFORE_TASK=<marker file>: the first task (cluster-wide: the marker) SIGKILLs its whole
  worker after the message was received and before the batch is claimed.
- FAULT_KILL_AFTER_WRITE=<marker file>: the first batch SIGKILLs its worker after writing its scores
  and before finishing (a kill during a batch).
- FAULT_OOM_BATCH_TOKENS=<b>, FAULT_OOM_SEQUENCE_TOKENS=<n>: the HF model's forward pass raises
  torch.OutOfMemoryError when the padded batch (sequences × longest) exceeds b tokens, or when any
  sequence is longer than n tokens (a poison input that does not fit even alone).
"""

import os
import signal


def _once(marker: str) -> bool:
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def _die() -> None:
    os.killpg(os.getpgid(0), signal.SIGKILL)


def _install(**kwargs) -> None:
    slow = float(os.environ.get("FAULT_SLOW_BATCH_SECONDS") or 0)
    if slow:
        import time

        from scoring.backends import length

        real_chunks = length.LengthBackend.score_chunks

        def score_chunks(self, inputs, context):
            time.sleep(slow)
            yield from real_chunks(self, inputs, context)

        length.LengthBackend.score_chunks = score_chunks

    before = os.environ.get("FAULT_KILL_BEFORE_TASK")
    if before:
        from celery.signals import task_prerun

        def kill_before(**kw):
            if _once(before):
                _die()

        task_prerun.connect(kill_before, weak=False)

    after = os.environ.get("FAULT_KILL_AFTER_WRITE")
    if after:
        from scoring import services

        real_write = services._write_chunk

        def write_chunk(**kw):
            real_write(**kw)
            if _once(after):
                _die()

        services._write_chunk = write_chunk

    oom_batch = int(os.environ.get("FAULT_OOM_BATCH_TOKENS") or 0)
    oom_sequence = int(os.environ.get("FAULT_OOM_SEQUENCE_TOKENS") or 0)
    if oom_batch or oom_sequence:
        import torch

        from scoring.backends import hf

        real_forward = hf.HFSequenceClassifier.forward

        def forward(self, sequences):
            longest = max(len(s) for s in sequences)
            if (oom_batch and len(sequences) * longest > oom_batch) or (oom_sequence and longest > oom_sequence):
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
            return real_forward(self, sequences)

        hf.HFSequenceClassifier.forward = forward


if any(os.environ.get(k) for k in ("FAULT_SLOW_BATCH_SECONDS", "FAULT_KILL_BEFORE_TASK", "FAULT_KILL_AFTER_WRITE",
                                   "FAULT_OOM_BATCH_TOKENS", "FAULT_OOM_SEQUENCE_TOKENS")):
    from celery.signals import worker_process_init

    worker_process_init.connect(_install, weak=False)
