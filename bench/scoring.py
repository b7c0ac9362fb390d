"""Scoring throughput, on one model and one set of inputs.

In-process (the default), in one run:
(a) the full scoring path (the worker's service: read responses from the database, render with the
    chat template, tokenize, plan token-budget batches, forward, read the last-token logits, upsert
    the scores and counters) against a bare `model(**batch)` loop over the same, already tokenized
    and collated batches: throughput ratio (goal ≥ 0.9);
(b) length-sorted token-budget batches against fixed-size batches in input order, on a realistic
    mix of 50–2,000-token responses: speed-up (goal ≥ 1.5×);
(c) on CUDA: tokens/s and the fraction of the bf16 FLOP limit reached, counting 2 × parameters ×
    tokens (parameters without the input embedding, a lookup rather than a matmul), against the
    card's measured bf16 matmul rate and its datasheet peak; the token budget learned from free
    memory; with --oom-check, a really exhausted GPU (a budget far beyond memory) recovered by halving.

With --workers 1,2: k real Celery worker processes (`celery worker -Q gpu --concurrency 1`, one
process per device, SCORING_TORCH_THREADS per worker; on a GPU box one per GPU through
CUDA_VISIBLE_DEVICES) score one run of a tiny model through Redis and the database, end to end;
the table gives responses/s and tokens/s per k and the speed-up against one worker (goal ≥ 0.9·k).

Shapes (`--shape`), randomly initialised, nothing downloaded (the tokenizer is trained in-process):
  qwen3-0.6b    hidden 1024, 16/8 heads, head dim 128, MLP 3072, vocab 151,936, 28 layers
                (the backbone of Skywork-Reward-V2-Qwen3-0.6B); the in-process default
  llama-3.1-8b  hidden 4096, 32/8 heads, head dim 128, MLP 14,336, vocab 128,256, 32 layers
                (the backbone of Skywork-Reward-V2-Llama-3.1-8B); bf16 weights, GPU only
  tiny          hidden 256, 4/2 heads, MLP 768, vocab 2,048, 2 layers; the --workers default
On a CPU the full depth takes long, so --layers defaults to 2 and --responses to 32 there (every
layer has the same shape, so the ratios hold; the script prints what it used).

Run by hand:  .venv/bin/python bench/scoring.py [--shape llama-3.1-8b] [--layers 28] [--keep-db]
              .venv/bin/python bench/scoring.py --workers 1,2
It creates the PostgreSQL database --database (default bench_scoring) and drops it at the end;
--sqlite PATH runs on a SQLite file instead (a GPU box without PostgreSQL; not with --workers).
Every figure is printed with the machine's load average (os.getloadavg): on a shared machine, read
them together.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Python puts this script's folder first on sys.path, where a sibling bench script could shadow a
# standard module: use the repository root instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0,
                    "4090": 165.0}
SHAPES = {
    "qwen3-0.6b": dict(arch="qwen3", layers=28, hidden=1024, heads=16, kv_heads=8, head_dim=128, intermediate=3072,
                       vocab=151936),
    "llama-3.1-8b": dict(arch="llama", layers=32, hidden=4096, heads=32, kv_heads=8, head_dim=128,
                         intermediate=14336, vocab=128256),
    "tiny": dict(arch="qwen3", layers=2, hidden=256, heads=4, kv_heads=2, head_dim=64, intermediate=768, vocab=2048),
}


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f} (5 min {five:.1f}) on {os.cpu_count()} cores"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", choices=sorted(SHAPES), default=None,
                   help="model shape (default: qwen3-0.6b; tiny with --workers)")
    p.add_argument("--layers", type=int, default=None, help="decoder layers (default: the shape's on CUDA, 2 on CPU)")
    for name in ("hidden", "heads", "kv-heads", "head-dim", "intermediate", "vocab"):
        p.add_argument(f"--{name}", type=int, default=None, help="override the shape's value")
    p.add_argument("--responses", type=int, default=None,
                   help="inputs (default: 512 on CUDA, 32 on CPU; 256 with --workers)")
    p.add_argument("--min-tokens", type=int, default=50)
    p.add_argument("--max-tokens", type=int, default=None, help="longest response (default 2000; 600 with --workers)")
    p.add_argument("--token-budget", type=int, default=None, help="padded tokens per forward (default: learned "
                                                                  "from free memory on CUDA, 16384 on CPU)")
    p.add_argument("--fixed-batch", type=int, default=8, help="rows per batch for the naive plan in (b)")
    p.add_argument("--repeats", type=int, default=2, help="timed repeats (the best is kept)")
    p.add_argument("--database", default="bench_scoring")
    p.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    p.add_argument("--sqlite", default=None, metavar="PATH", help="use a SQLite file instead of PostgreSQL")
    p.add_argument("--keep-db", action="store_true")
    p.add_argument("--peak-tflops", type=float, default=None, help="bf16 dense peak of the GPU, TFLOP/s")
    p.add_argument("--oom-check", action="store_true", help="CUDA: run out of memory for real and recover")
    p.add_argument("--workers", default=None, metavar="K[,K…]", help="worker scaling: k real Celery workers")
    p.add_argument("--threads-per-worker", type=int, default=1, help="SCORING_TORCH_THREADS of each worker")
    p.add_argument("--batch-responses", type=int, default=16, help="responses per Celery task with --workers")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/4", help="broker for --workers")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    shape = dict(SHAPES[args.shape or ("tiny" if args.workers else "qwen3-0.6b")])
    for key in ("hidden", "heads", "kv_heads", "head_dim", "intermediate", "vocab"):
        if getattr(args, key) is not None:
            shape[key] = getattr(args, key)
    args.shape_name = args.shape or ("tiny" if args.workers else "qwen3-0.6b")
    args.shape_values = shape
    if args.max_tokens is None:
        args.max_tokens = 600 if args.workers else 2000
    if args.workers and args.sqlite:
        p.error("--workers needs PostgreSQL (several processes write at once)")
    return args


def psql(pg: str, sql: str) -> None:
    if shutil.which("psql"):
        subprocess.run(["psql", f"{pg}/postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], check=True)
    else:
        import psycopg

        with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
            conn.execute(sql)


def make_texts(tokenizer, rng: random.Random, n: int, lo: int, hi: int) -> tuple[list[str], list[str]]:
    """Prompts of 20–200 tokens and responses of lo–hi tokens (log-uniform), in random order."""
    words = [
        "the", "model", "answers", "questions", "about", "science", "history", "code", "cooking", "travel",
        "health", "money", "law", "music", "sport", "because", "therefore", "however", "example", "first",
        "second", "finally", "step", "result", "python", "function", "returns", "value", "list", "error",
        "test", "memory", "speed", "budget", "token", "batch",
    ]

    def text(target: int) -> str:
        out, count = [], 0
        while count < target:
            chunk = " ".join(rng.choice(words) for _ in range(16))
            out.append(chunk)
            count += len(tokenizer(" " + chunk, add_special_tokens=False)["input_ids"])
        return " ".join(out)

    prompts = [text(rng.randint(20, 200)) + "?" for _ in range(n)]
    responses = [text(int(math.exp(rng.uniform(math.log(lo), math.log(hi))))) for _ in range(n)]
    return prompts, responses


def main() -> int:
    args = parse_args()
    import torch

    cuda = torch.cuda.is_available()
    shape = args.shape_values
    layers = args.layers or (shape["layers"] if cuda or args.workers else 2)
    n = args.responses or (256 if args.workers else 512 if cuda else 32)
    # None: on CUDA the backend learns the budget from free memory.
    budget = args.token_budget or (None if cuda else 4096 if args.workers else 16384)
    if not args.workers:
        torch.set_num_threads(os.cpu_count() or 1)
    rng = random.Random(args.seed)

    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
    os.environ["DATABASE_URL"] = f"sqlite:///{args.sqlite}" if args.sqlite else f"{args.pg}/{args.database}"
    os.environ.setdefault("HTTPS", "0")
    os.environ["REDIS_URL"] = args.redis if args.workers else ""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["SCORING_RESPONSES_PER_BATCH"] = str(args.batch_responses if args.workers else n)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()

    from scoring.tiny_model import build_reward_model, train_tokenizer

    workdir = Path(tempfile.mkdtemp(prefix="bench-scoring-"))
    if not args.sqlite:
        psql(args.pg, f'DROP DATABASE IF EXISTS "{args.database}"')
        psql(args.pg, f'CREATE DATABASE "{args.database}"')
    try:
        print("Building the model…", flush=True)
        tokenizer = train_tokenizer(vocab_size=2048)
        big = shape["hidden"] >= 2048
        model_dir = build_reward_model(
            workdir / "rm", arch=shape["arch"], layers=layers, hidden=shape["hidden"], heads=shape["heads"],
            kv_heads=shape["kv_heads"], head_dim=shape["head_dim"], intermediate=shape["intermediate"],
            vocab_size=shape["vocab"], max_positions=4096, tokenizer=tokenizer, seed=args.seed,
            dtype=torch.bfloat16 if cuda else None, device="cuda" if cuda and big else None,
        )
        if cuda:
            torch.cuda.empty_cache()
        if args.workers:
            return run_workers(args, model_dir, tokenizer, rng, layers=layers, n=n, budget=budget, cuda=cuda,
                               workdir=workdir)
        return run(args, model_dir, tokenizer, rng, layers=layers, n=n, budget=budget, cuda=cuda)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if not args.keep_db:
            from django.db import connections

            connections.close_all()
            if args.sqlite:
                Path(args.sqlite).unlink(missing_ok=True)
            else:
                psql(args.pg, f'DROP DATABASE IF EXISTS "{args.database}"')


def make_project(name: str, prompts: list[str], texts: list[str]):
    """A project with one response per prompt, and its admin."""
    from django.contrib.auth import get_user_model

    from annotator.models import Item, Project, ProjectMembership, Response

    admin, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True})
    project = Project.objects.create(name=name)
    ProjectMembership.objects.create(project=project, user=admin, role="admin")
    items = Item.objects.bulk_create([Item(project=project, external_id=f"i{i}",
                                           prompt=[{"role": "user", "content": p}]) for i, p in enumerate(prompts)])
    Response.objects.bulk_create([Response(item=item, external_id="r", content=t, position=0)
                                  for item, t in zip(items, texts, strict=True)])
    return project, admin


def matmul_tflops(torch, *, device: str, dtype, size: int = 8192, iters: int = 50) -> float:
    """The card's measured dense matmul rate (TFLOP/s) at this dtype: the FLOP limit we compare with."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(5):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        a @ b
    torch.cuda.synchronize()
    return 2 * size**3 * iters / (time.perf_counter() - start) / 1e12


def cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) of every live process in a process group, from /proc (Linux)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after "(comm)": state, ppid, pgrp, …, utime (12), stime (13)
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


class _Worker:
    """One `celery worker -Q gpu --concurrency 1` process: one process per device."""

    def __init__(self, index: int, env: dict, log_path: Path):
        self.log_path = log_path
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "gpu", "--concurrency", "1",
             "--pool", "prefork", "--loglevel", "WARNING", "--hostname", f"bench{index}-{os.getpid()}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=log_path.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def run_workers(args, model_dir: Path, tokenizer, rng, *, layers: int, n: int, budget: int | None, cuda: bool,
                workdir: Path) -> int:
    """k real worker processes on one run each; best of --repeats per k; the scaling table."""
    import django
    import torch

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from config.celery import app
    from scoring import services
    from scoring.models import ResponseScore, Scorer, ScoringBatch, ScoringRun

    ks = [int(k) for k in args.workers.split(",") if k.strip()]
    gpus = torch.cuda.device_count() if cuda else 0
    if cuda and max(ks) > gpus:
        print(f"only {gpus} GPU(s): k > {gpus} puts several workers on one GPU", flush=True)
    prompts, texts = make_texts(tokenizer, rng, n, args.min_tokens, args.max_tokens)
    project, admin = make_project("bench-workers", prompts, texts)
    warm_prompts, warm_texts = make_texts(tokenizer, rng, 4 * max(ks), 20, 60)
    warm, _ = make_project("bench-warm-up", warm_prompts, warm_texts)
    shape = args.shape_values
    print(f"\nmodel      {args.shape_name}-shaped, random weights: {layers} layers, hidden {shape['hidden']}, "
          f"MLP {shape['intermediate']}, vocab {shape['vocab']}")
    print(f"inputs     {n} responses of {args.min_tokens}-{args.max_tokens} tokens (log-uniform), "
          f"{args.batch_responses} per Celery task; {args.threads_per_worker} torch thread(s) per worker; "
          f"broker {args.redis}")
    redis_client = __import__("redis").Redis.from_url(args.redis)

    def wait_run(run_id: int, timeout: float = 3600) -> ScoringRun:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run_ = ScoringRun.objects.get(pk=run_id)
            if run_.is_finished:
                return run_
            time.sleep(0.05)
        raise RuntimeError(f"run {run_id} did not finish in {timeout:.0f}s")

    best: dict[int, dict] = {}
    for k in ks:
        scorer = Scorer.objects.filter(name="bench-rm").first() or Scorer.objects.create(
            name="bench-rm", backend="hf_sequence_classifier", model=str(model_dir),
            dtype="bfloat16" if cuda else "float32", max_length=4096, batch_token_budget=budget or 16384,
            options={} if cuda and not args.token_budget else {"token_budget": "fixed"})
        redis_client.delete("gpu")  # nothing left over from a previous round
        threads = str(args.threads_per_worker)
        workers = []
        for i in range(k):
            env = {**os.environ, "SCORING_TORCH_THREADS": threads, "OMP_NUM_THREADS": threads,
                   "MKL_NUM_THREADS": threads, "TOKENIZERS_PARALLELISM": "false"}
            if cuda:
                env["CUDA_VISIBLE_DEVICES"] = str(i % max(1, gpus))
            workers.append(_Worker(i, env, workdir / f"worker-k{k}-{i}.log"))
        try:
            deadline = time.monotonic() + 180
            while len(app.control.ping(timeout=1.0) or []) < k:
                if time.monotonic() > deadline or any(w.proc.poll() is not None for w in workers):
                    logs = "\n".join(w.log_path.read_text(errors="replace")[-2000:] for w in workers)
                    raise RuntimeError(f"the workers did not start:\n{logs}")
            # Warm-up: every worker loads the model once (a worker keeps it loaded across runs).
            for _ in range(5):
                os.environ["SCORING_RESPONSES_PER_BATCH"] = "1"
                warm_run = services.scoring_run_start(project=warm, scorer=scorer, actor=admin)
                os.environ["SCORING_RESPONSES_PER_BATCH"] = str(args.batch_responses)
                wait_run(warm_run.pk)
                if ScoringBatch.objects.filter(run=warm_run).values("worker").distinct().count() >= k:
                    break
            for _ in range(args.repeats):
                before = load()
                cpu_before = sum(cpu_seconds(w.proc.pid) for w in workers)
                start = time.perf_counter()
                run_ = services.scoring_run_start(project=project, scorer=scorer, actor=admin)
                run_ = wait_run(run_.pk)
                elapsed = time.perf_counter() - start
                cpu = sum(cpu_seconds(w.proc.pid) for w in workers) - cpu_before
                assert run_.status == "done" and run_.done == n, (run_.status, run_.done, run_.error)
                used = ScoringBatch.objects.filter(run=run_).values("worker").distinct().count()
                scored = ResponseScore.objects.filter(scorer=scorer, response__item__project=project)
                assert scored.count() == n == scored.values("response_id").distinct().count()
                row = {"k": k, "s": elapsed, "responses": n / elapsed, "tokens": run_.tokens / elapsed,
                       "used": used, "load": f"{before} / {load()}", "per_cpu": run_.tokens / max(cpu, 1e-9),
                       "cores": cpu / elapsed}
                print(f"  k={k}: {elapsed:7.2f} s, {row['responses']:7.2f} responses/s, {row['tokens']:9.1f} "
                      f"tokens/s, {used} worker(s) took batches, workers busy {row['cores']:.2f} cores, "
                      f"{row['per_cpu']:.0f} tokens per CPU-second; {row['load']}", flush=True)
                if k not in best or row["s"] < best[k]["s"]:
                    best[k] = row
        finally:
            for w in workers:
                w.stop()
    base = best[min(best)]["tokens"] / min(best)
    print(f"\nworkers: best of {args.repeats} per k, end to end (enqueue → run done), "
          f"{args.threads_per_worker} torch thread(s) per worker")
    print("  (the CPU the workers got: busy cores = their CPU time / wall time; tokens per CPU-second does not "
          "depend on how loaded the machine is, so it shows whether sharing a run costs anything)")
    print("    k   wall s   responses/s    tokens/s   speed-up vs 1   efficiency   busy cores   tokens/CPU-s"
          "   load before / after")
    for k in sorted(best):
        row = best[k]
        speed = row["tokens"] / base
        print(f"  {k:3d} {row['s']:8.2f} {row['responses']:13.2f} {row['tokens']:11.1f} {speed:12.2f}x "
              f"{speed / k:12.2f} {row['cores']:12.2f} {row['per_cpu']:14.0f}    {row['load']}")
    return 0


def run(args, model_dir: Path, tokenizer, rng, *, layers: int, n: int, budget: int | None, cuda: bool) -> int:
    import django
    import torch

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from scoring import services
    from scoring.backends import backend_for
    from scoring.backends.batching import plan_fixed_batches, plan_token_budget_batches
    from scoring.models import ResponseScore, Scorer, ScoringBatch, ScoringRun

    prompts, texts = make_texts(tokenizer, rng, n, args.min_tokens, args.max_tokens)
    project, admin = make_project("bench", prompts, texts)
    dtype = "bfloat16" if cuda else "float32"
    # On CUDA without --token-budget the backend learns the budget from free memory ("auto").
    scorer = Scorer.objects.create(name="bench-rm", backend="hf_sequence_classifier", model=str(model_dir),
                                   dtype=dtype, max_length=4096, batch_token_budget=budget or 65536,
                                   options={} if budget is None else {"token_budget": "fixed"})

    services._enqueue_batches = lambda ids: None  # the bench plays the worker itself
    run_ = services.scoring_run_start(project=project, scorer=scorer, actor=admin)
    spec = services.ScorerSpec.from_dict(run_.scorer_config)
    backend = backend_for(spec)
    budget = backend.token_budget
    model = backend.model
    params = sum(p.numel() for p in model.parameters())
    embedding = model.get_input_embeddings().weight.numel()
    flop_params = params - embedding

    from scoring.backends.base import ScoreInput

    inputs = [ScoreInput(response_id=i, item_id=i, prompt=[{"role": "user", "content": p}], response=t)
              for i, (p, t) in enumerate(zip(prompts, texts, strict=True))]
    encoded = [backend.encode(i).ids for i in inputs]
    lengths = [len(ids) for ids in encoded]
    tokens = sum(lengths)
    device = backend.device

    print()
    shape = args.shape_values
    print(f"model      {args.shape_name}-shaped, random weights: {layers} layers, hidden {shape['hidden']}, heads "
          f"{shape['heads']}/{shape['kv_heads']} (head dim {shape['head_dim']}), MLP {shape['intermediate']}, vocab "
          f"{shape['vocab']}; {params / 1e6:.1f}M parameters ({flop_params / 1e6:.1f}M without the embedding)")
    print(f"runtime    torch {torch.__version__} on {device} ({torch.get_num_threads()} threads), "
          f"dtype {backend.dtype}, attention {backend.attn_implementation}")
    print(f"inputs     {n} responses, {tokens} tokens (prompt + response, chat template); lengths "
          f"min {min(lengths)}, median {int(statistics.median(lengths))}, max {max(lengths)}; "
          f"token budget {budget}" + (f" (learned from free memory: {backend.bytes_per_token / 1024:.0f} KiB "
                                      "per token)" if backend.learned_budget else ""))
    print(f"machine    {load()} at the start")

    def sync():
        if cuda:
            torch.cuda.synchronize()

    plan = plan_token_budget_batches(lengths, token_budget=budget, batch_overhead=backend.batch_overhead)
    collated = [backend.collate([encoded[i] for i in batch]) for batch in plan]
    fixed = [backend.collate([encoded[i] for i in batch])
             for batch in plan_fixed_batches(len(encoded), batch_size=args.fixed_batch)]
    kwargs = {"use_cache": False}

    def bare(batches):
        with torch.inference_mode():
            for input_ids, attention, _ in batches:
                model(input_ids=input_ids, attention_mask=attention, **kwargs)
        sync()

    batch_ids = list(run_.batches.values_list("id", flat=True))

    def full_path():
        for batch_id in batch_ids:
            # Back to pending so the service claims it again (a re-run is an upsert of the same rows).
            ScoringBatch.objects.filter(pk=batch_id).update(status="pending")
            ScoringRun.objects.filter(pk=run_.pk).update(status="running")
            outcome = services.scoring_batch_execute(batch_id=batch_id, worker="bench")
            assert outcome == "done", outcome
        sync()

    # Time spent inside the model's forward during the full path: what is left is the path's own
    # overhead, a figure that load spikes on a shared machine barely move.
    forward_time = {"s": 0.0}
    real_forward = backend.forward

    def timed_forward(sequences):
        start = time.perf_counter()
        try:
            return real_forward(sequences)
        finally:
            sync()
            forward_time["s"] += time.perf_counter() - start

    backend.forward = timed_forward
    overheads: list[float] = []

    def full_path_timed():
        forward_time["s"] = 0.0
        start = time.perf_counter()
        full_path()
        overheads.append(time.perf_counter() - start - forward_time["s"])

    print("\nwarming up…", flush=True)
    bare(collated[-1:])
    # Interleaved repeats, best of each: on a shared machine, load spikes hit all three alike.
    timings: dict[str, list[float]] = {"bare": [], "full": [], "fixed": []}
    for _ in range(args.repeats):
        for name, fn in (("bare", lambda: bare(collated)), ("full", full_path_timed),
                         ("fixed", lambda: bare(fixed))):
            start = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - start)
    t_bare, t_full, t_fixed = (min(timings[k]) for k in ("bare", "full", "fixed"))
    assert ResponseScore.objects.filter(scorer=scorer).count() == n  # re-runs upsert, never duplicate
    print("\n(a) full scoring path vs a bare model(**batch) loop (same token-budget batches)")
    print(f"    bare loop       {tokens / t_bare:10.1f} tokens/s  ({t_bare:.2f} s, {len(plan)} forward passes)")
    print(f"    full path       {tokens / t_full:10.1f} tokens/s  ({t_full:.2f} s, incl. DB read, template, "
          "tokenizer, upserts)")
    print(f"    ratio           {t_bare / t_full:10.3f}   (goal >= 0.9; wall clock, best of {args.repeats})")
    overhead = min(overheads)
    print(f"    outside forward {overhead:10.2f} s   (DB, template, tokenizer, planning, upserts; ratio implied by "
          f"it: {t_bare / (t_bare + overhead):.3f})")

    padded_budget = sum(int(c[0].numel()) for c in collated)
    padded_fixed = sum(int(c[0].numel()) for c in fixed)
    print(f"\n(b) length-sorted token-budget batches vs fixed batches of {args.fixed_batch} in input order")
    print(f"    fixed size      {tokens / t_fixed:10.1f} tokens/s  ({t_fixed:.2f} s, {len(fixed)} passes, "
          f"{padded_fixed} padded tokens, {100 * (1 - tokens / padded_fixed):.0f}% padding)")
    print(f"    token budget    {tokens / t_bare:10.1f} tokens/s  ({t_bare:.2f} s, {len(plan)} passes, "
          f"{padded_budget} padded tokens, {100 * (1 - tokens / padded_budget):.0f}% padding)")
    print(f"    speed-up        {t_fixed / t_bare:10.2f}x  (goal >= 1.5x)")

    print(f"    machine         {load()} at the end of (a) and (b)")

    print("\n(c) CUDA")
    if not cuda:
        print("    CUDA is not available on this machine: (c) not measured. On a GPU the same script runs "
              "bf16 with FlashAttention-2 (when installed) or SDPA, all layers and 512 inputs by default, "
              "with the token budget learned from free memory.")
        return 0
    name = torch.cuda.get_device_name()
    peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    measured = matmul_tflops(torch, device=device, dtype=backend.dtype)
    achieved = 2 * flop_params * tokens / t_full
    print(f"    device          {name}; bf16 matmul measured at {measured:.0f} TFLOP/s"
          + (f" (datasheet dense peak {peak:.0f})" if peak else ""))
    print(f"    throughput      {tokens / t_full:10.1f} tokens/s (full path), {tokens / t_bare:.1f} (bare)")
    print(f"    model FLOP/s    {achieved / 1e12:10.1f} TFLOP/s (2 x {flop_params / 1e6:.0f}M x tokens / time)")
    print(f"    of the limit    {100 * achieved / (measured * 1e12):10.1f}%  of the measured matmul rate (goal >= 50%)"
          + (f"; {100 * achieved / (peak * 1e12):.1f}% of the datasheet peak" if peak else ""))
    if args.oom_check:
        oom_check(backend, inputs, torch)
    return 0


def oom_check(backend, inputs, torch) -> None:
    """Run out of GPU memory for real: copies of the inputs whose padded total is twice the free
    memory, planned under a budget far beyond it; the backend must halve its way down and score all."""
    import logging

    halvings = []

    class Count(logging.Handler):
        def emit(self, record):
            if "out of memory" in record.getMessage():
                halvings.append(record.getMessage())

    logging.getLogger("scoring.backends.hf").addHandler(Count())
    free, _ = torch.cuda.mem_get_info()
    per_token = backend.bytes_per_token or 1.0
    lengths = [len(backend.encode(i).ids) for i in inputs]
    copies = max(1, int(2 * free / per_token / max(1, sum(lengths))) + 1)
    many = [type(i)(response_id=k * len(inputs) + j, item_id=i.item_id, prompt=i.prompt, response=i.response)
            for k in range(copies) for j, i in enumerate(inputs)]
    backend.token_budget = copies * max(lengths) * len(inputs)
    backend.ENCODE_WINDOW = len(many)  # plan them all at once
    start = time.perf_counter()
    results = backend.score(many)
    elapsed = time.perf_counter() - start
    ok = sum(r.ok for r in results)
    print(f"    OOM check       {len(many)} inputs ({copies} copies) under a budget beyond memory: "
          f"{len(halvings)} real out-of-memory error(s) halved it; budget now {backend.token_budget}; "
          f"{ok}/{len(many)} scored in {elapsed:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
