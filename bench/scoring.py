"""Scoring throughput, on one model and one set of inputs, in one run.

(a) the full scoring path (the worker's service: read responses from PostgreSQL, render with the
    chat template, tokenize, plan token-budget batches, forward, read the last-token logits, upsert
    the scores and counters) against a bare `model(**batch)` loop over the same, already tokenized
    and collated batches: throughput ratio (goal ≥ 0.9);
(b) length-sorted token-budget batches against fixed-size batches in input order, on a realistic
    mix of 50–2,000-token responses: speed-up (goal ≥ 1.5×);
(c) on CUDA: tokens/s and the fraction of the bf16 FLOP limit reached, counting 2 × parameters ×
    tokens (parameters without the input embedding, a lookup rather than a matmul).

The model is randomly initialised with a real reward model's shape: Qwen3-0.6B by default
(hidden 1024, 16 heads, 8 KV heads, head dim 128, MLP 3072, vocab 151,936), the backbone of
Skywork-Reward-V2-Qwen3-0.6B. On a CPU the full 28 layers take long, so --layers defaults to 2
and --responses to 32 there (every layer has the same shape, so the ratios hold; the script
prints what it used). Nothing is downloaded:
the tokenizer is trained in-process.

Run by hand:  .venv/bin/python bench/scoring.py [--layers 28] [--responses 48] [--keep-db]
It creates the PostgreSQL database --database (default bench_scoring) and drops it at the end.
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


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=None, help="decoder layers (default: 28 on CUDA, 2 on CPU)")
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--kv-heads", type=int, default=8)
    p.add_argument("--head-dim", type=int, default=128)
    p.add_argument("--intermediate", type=int, default=3072)
    p.add_argument("--vocab", type=int, default=151936)
    p.add_argument("--responses", type=int, default=None, help="inputs (default: 512 on CUDA, 32 on CPU)")
    p.add_argument("--min-tokens", type=int, default=50)
    p.add_argument("--max-tokens", type=int, default=2000)
    p.add_argument("--token-budget", type=int, default=None, help="padded tokens per forward (default: 65536 "
                                                                  "on CUDA, 16384 on CPU)")
    p.add_argument("--fixed-batch", type=int, default=8, help="rows per batch for the naive plan in (b)")
    p.add_argument("--repeats", type=int, default=2, help="timed repeats (the best is kept)")
    p.add_argument("--database", default="bench_scoring")
    p.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    p.add_argument("--keep-db", action="store_true")
    p.add_argument("--peak-tflops", type=float, default=None, help="bf16 dense peak of the GPU, TFLOP/s")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


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
    layers = args.layers or (28 if cuda else 2)
    n = args.responses or (512 if cuda else 32)
    budget = args.token_budget or (65536 if cuda else 16384)
    torch.set_num_threads(os.cpu_count() or 1)
    rng = random.Random(args.seed)

    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
    os.environ["DATABASE_URL"] = f"{args.pg}/{args.database}"
    os.environ.setdefault("HTTPS", "0")
    os.environ["REDIS_URL"] = ""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["SCORING_RESPONSES_PER_BATCH"] = str(n)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()

    from scoring.tiny_model import build_reward_model, train_tokenizer

    workdir = Path(tempfile.mkdtemp(prefix="bench-scoring-"))
    psql(args.pg, f'DROP DATABASE IF EXISTS "{args.database}"')
    psql(args.pg, f'CREATE DATABASE "{args.database}"')
    try:
        print("Building the model…", flush=True)
        tokenizer = train_tokenizer(vocab_size=2048)
        model_dir = build_reward_model(
            workdir / "rm", arch="qwen3", layers=layers, hidden=args.hidden, heads=args.heads,
            kv_heads=args.kv_heads, head_dim=args.head_dim, intermediate=args.intermediate, vocab_size=args.vocab,
            max_positions=4096, tokenizer=tokenizer, seed=args.seed,
        )
        return run(args, model_dir, tokenizer, rng, layers=layers, n=n, budget=budget, cuda=cuda)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if not args.keep_db:
            from django.db import connections

            connections.close_all()
            psql(args.pg, f'DROP DATABASE IF EXISTS "{args.database}"')


def run(args, model_dir: Path, tokenizer, rng, *, layers: int, n: int, budget: int, cuda: bool) -> int:
    import django
    import torch

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    from annotator.models import Item, Project, ProjectMembership, Response
    from scoring import services
    from scoring.backends import backend_for
    from scoring.backends.batching import plan_fixed_batches, plan_token_budget_batches
    from scoring.models import ResponseScore, Scorer, ScoringBatch, ScoringRun

    prompts, texts = make_texts(tokenizer, rng, n, args.min_tokens, args.max_tokens)
    admin = get_user_model().objects.create(username="bench", is_staff=True)
    project = Project.objects.create(name="bench")
    ProjectMembership.objects.create(project=project, user=admin, role="admin")
    items = Item.objects.bulk_create([Item(project=project, external_id=f"i{i}",
                                           prompt=[{"role": "user", "content": p}]) for i, p in enumerate(prompts)])
    Response.objects.bulk_create([Response(item=item, external_id="r", content=t, position=0)
                                  for item, t in zip(items, texts, strict=True)])
    dtype = "bfloat16" if cuda else "float32"
    scorer = Scorer.objects.create(name="bench-rm", backend="hf_sequence_classifier", model=str(model_dir),
                                   dtype=dtype, max_length=4096, batch_token_budget=budget)

    services._enqueue_batches = lambda ids: None  # the bench plays the worker itself
    run_ = services.scoring_run_start(project=project, scorer=scorer, actor=admin)
    spec = services.ScorerSpec.from_dict(run_.scorer_config)
    backend = backend_for(spec)
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
    print(f"model      Qwen3-shaped, random weights: {layers} layers, hidden {args.hidden}, heads {args.heads}/"
          f"{args.kv_heads} (head dim {args.head_dim}), MLP {args.intermediate}, vocab {args.vocab}; "
          f"{params / 1e6:.1f}M parameters ({flop_params / 1e6:.1f}M without the embedding)")
    print(f"runtime    torch {torch.__version__} on {device} ({torch.get_num_threads()} threads), "
          f"dtype {backend.dtype}, attention {backend.attn_implementation}")
    print(f"inputs     {n} responses, {tokens} tokens (prompt + response, chat template); lengths "
          f"min {min(lengths)}, median {int(statistics.median(lengths))}, max {max(lengths)}; "
          f"token budget {budget}")

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

    print("\n(c) CUDA")
    if not cuda:
        print("    CUDA is not available on this machine: (c) not measured. On a GPU the same script runs "
              "bf16 with FlashAttention-2 (when installed) or SDPA, all 28 layers and 512 inputs by default.")
        return 0
    name = torch.cuda.get_device_name()
    peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    achieved = 2 * flop_params * tokens / t_full
    print(f"    device          {name}")
    print(f"    throughput      {tokens / t_full:10.1f} tokens/s (full path), {tokens / t_bare:.1f} (bare)")
    print(f"    model FLOP/s    {achieved / 1e12:10.1f} TFLOP/s (2 x {flop_params / 1e6:.0f}M x tokens / time)")
    if peak:
        print(f"    of bf16 peak    {100 * achieved / (peak * 1e12):10.1f}%  (peak {peak:.0f} TFLOP/s dense)")
    else:
        print("    of bf16 peak    unknown GPU: pass --peak-tflops")
    return 0


if __name__ == "__main__":
    sys.exit(main())
