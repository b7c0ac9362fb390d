"""Item import speed: 100,000 items (two responses each) from JSONL into PostgreSQL.

    .venv/bin/python bench/import_items.py [--items 100000]

Creates its own database (bench_import on 127.0.0.1:5432, user postgres), writes a native JSONL file
with realistic sizes (a prompt of a few sentences, two markdown responses of ~1 KB, metadata), then
times: the first import (parse + COPY), a re-import of the same file (all unchanged), a re-import
with 10% of the items changed, and a TRL-format file of the same size. Prints seconds and items/s.
The database is dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

from _common import admin_sql, configure  # noqa: E402 - bench/ is the script's own folder

DB = configure("bench_import")

WORDS = [
    "the", "model", "should", "explain", "each", "step", "clearly", "and", "cite", "relevant", "rule", "before",
    "giving", "final", "answer", "while", "keeping", "tone", "friendly", "concise", "accurate", "for", "general",
]


def text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def response(rng: random.Random) -> str:
    return (f"## Answer\n\n{text(rng, 60)}.\n\n- {text(rng, 12)}\n- {text(rng, 12)}\n\n"
            f"```python\nprint({rng.randint(1, 999)})\n```\n\n{text(rng, 40)}.")


def write_native(path: Path, n: int, seed: int = 1, changed_every: int = 0) -> int:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            row = {
                "id": f"item-{i}",
                "messages": [{"role": "user", "content": f"Question {i}: {text(rng, 30)}?"}],
                "responses": [{"id": "a", "model": "model-a", "content": response(rng)},
                              {"id": "b", "model": "model-b", "content": response(rng)}],
                "metadata": {"source": "bench", "topic": rng.choice(["code", "maths", "health", "writing"])},
            }
            if changed_every and i % changed_every == 0:
                row["metadata"]["revised"] = True
            f.write(json.dumps(row) + "\n")
    return path.stat().st_size


def write_trl(path: Path, n: int) -> int:
    rng = random.Random(2)
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({
                "prompt": [{"role": "user", "content": f"TRL question {i}: {text(rng, 30)}?"}],
                "chosen": [{"role": "assistant", "content": response(rng)}],
                "rejected": [{"role": "assistant", "content": response(rng)}],
            }) + "\n")
    return path.stat().st_size


def timed(label: str, fn, n: int):
    t0 = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t0
    print(f"  {label:<44}{seconds:>8.1f} s{n / seconds:>12,.0f} items/s   {result}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    n = args.items

    admin_sql(f'DROP DATABASE IF EXISTS "{DB}"')
    admin_sql(f'CREATE DATABASE "{DB}"')
    try:
        import django

        django.setup()
        from django.core.management import call_command

        from annotator.formats import items_parse
        from annotator.models import Item, Response
        from annotator.services import items_import, items_write, project_create
        from annotator.services.imports import _gc_paused

        call_command("migrate", verbosity=0)
        project = project_create(name="Import bench", created_by=None, overlap=1)
        other = project_create(name="Import bench (TRL)", created_by=None, overlap=1)
        with tempfile.TemporaryDirectory() as tmp:
            native, revised, trl = Path(tmp) / "native.jsonl", Path(tmp) / "revised.jsonl", Path(tmp) / "trl.jsonl"
            size = write_native(native, n)
            write_native(revised, n, changed_every=10)
            write_trl(trl, n)
            print(f"PostgreSQL, {os.cpu_count()} CPU cores; {n:,} items, native file {size / 1e6:.0f} MB\n")

            def first():
                with native.open("rb") as f, _gc_paused():  # as items_import does
                    t0 = time.perf_counter()
                    parsed = items_parse(f, "auto")
                    parse_s = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    report = items_write(project=project, items=parsed.items)
                    report.format = parsed.format
                return f"{report.as_dict()} (parse {parse_s:.1f} s, write {time.perf_counter() - t0:.1f} s)"

            timed("first import (native, new)", first, n)
            timed("same file again (all unchanged)",
                  lambda: items_import(project=project, stream=native.open("rb")).as_dict(), n)
            timed("10% of the items changed",
                  lambda: items_import(project=project, stream=revised.open("rb")).as_dict(), n)
            timed("TRL conversational file (new)",
                  lambda: items_import(project=other, stream=trl.open("rb")).as_dict(), n)
        print(f"\nrows now: {Item.objects.count():,} items, {Response.objects.count():,} responses")
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            admin_sql(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')


if __name__ == "__main__":
    main()
