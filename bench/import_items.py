"""Item import speed: 100,000 items (two responses each) from JSONL into PostgreSQL.

    .venv/bin/python bench/import_items.py [--items 100000]

Creates its own database (bench_import on 127.0.0.1:5432, user postgres), writes a native JSONL file
with realistic sizes (a prompt of a few sentences, two markdown responses of ~1 KB, metadata), then
times: the import through the API (the file as an application/x-ndjson body, a project admin's token,
against gunicorn started as `make run` starts it), the same import in-process (the file is read on
one thread, a second turns each batch into COPY text, a third sends it: the CPU seconds of each
thread and of the PostgreSQL backend show where the time goes; parsing alone is timed too), a
re-import of the same
file (all unchanged), a re-import with 10% of the items changed, and a TRL-format file of the same
size. Prints seconds and items/s with the load average (the machine should be idle). The database
is dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import tempfile
import time
from pathlib import Path

from _common import ROOT, admin_sql, configure, free_port, start_server, stop_server  # noqa: E402 - bench/

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


def _cpu_seconds(stat: Path) -> float:
    """User + system CPU seconds of a process, from /proc/<pid>/stat."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def import_over_http(port: int, project_id: int, token: str, path: Path) -> dict:
    """POST the file to the item import API, as a client script would."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    with path.open("rb") as body:
        conn.request("POST", f"/api/v1/projects/{project_id}/items/import", body=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson",
            "Content-Length": str(path.stat().st_size)})
        response = conn.getresponse()
        answer = response.read().decode()
    if response.status != 200:
        raise SystemExit(f"the import API answered HTTP {response.status}: {answer[:500]}")
    return json.loads(answer)


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
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.db import connection

        from accounts.services import api_token_create
        from annotator.formats import items_parse
        from annotator.models import Item, Response
        from annotator.services import imports, items_import, project_create
        from annotator.services.imports import _BatchWriter, _gc_paused

        call_command("migrate", verbosity=0)
        admin = get_user_model().objects.create_user("import-bench-admin")
        over_api = project_create(name="Import bench (API)", created_by=admin, overlap=1)
        project = project_create(name="Import bench", created_by=None, overlap=1)
        other = project_create(name="Import bench (TRL)", created_by=None, overlap=1)
        with tempfile.TemporaryDirectory() as tmp:
            native, revised, trl = Path(tmp) / "native.jsonl", Path(tmp) / "revised.jsonl", Path(tmp) / "trl.jsonl"
            size = write_native(native, n)
            write_native(revised, n, changed_every=10)
            write_trl(trl, n)
            print(f"PostgreSQL, {os.cpu_count()} CPU cores, load {os.getloadavg()}; {n:,} items, "
                  f"native file {size / 1e6:.0f} MB\n")
            _, token = api_token_create(user=admin, name="import bench")
            connection.close()  # the server writes now; this process idles
            log = ROOT / "var" / "bench" / "import_items_server.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            port = free_port()
            server = start_server(port, log)
            try:
                warm_up = http.client.HTTPConnection("127.0.0.1", port)  # each worker imports its modules once
                for _ in range(8):
                    warm_up.request("GET", "/api/v1/projects", headers={"Authorization": f"Bearer {token}"})
                    warm_up.getresponse().read()
                timed("through the API (native, new)", lambda: import_over_http(port, over_api.pk, token, native), n)
            finally:
                stop_server(server)

            def parse_only():
                with native.open("rb") as f, _gc_paused():  # as items_import does
                    return f"{len(items_parse(f, 'auto').items):,} items parsed"

            def first():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    backend = Path(f"/proc/{cursor.fetchone()[0]}/stat")  # the server is on this machine
                # The CPU time of the preparing thread (sorting a batch out, COPY text) and of the
                # sending one (COPY); the rest of the process's is the reading thread's.
                spent = {"preparing": 0.0, "sending": 0.0}
                write, send = _BatchWriter.write, imports._copy_created

                def timed(stage, fn):
                    def run(*args):
                        t0 = time.thread_time()
                        try:
                            return fn(*args)
                        finally:
                            spent[stage] += time.thread_time() - t0
                    return run

                _BatchWriter.write, imports._copy_created = timed("preparing", write), timed("sending", send)
                pg0, cpu0 = _cpu_seconds(backend), time.process_time()
                try:
                    report = items_import(project=project, stream=native.open("rb"))
                finally:
                    _BatchWriter.write, imports._copy_created = write, send
                cpu, pg = time.process_time() - cpu0, _cpu_seconds(backend) - pg0
                reading = cpu - spent["preparing"] - spent["sending"]
                return (f"{report.as_dict()} (CPU seconds: reading {reading:.1f}, preparing {spent['preparing']:.1f}, "
                        f"sending {spent['sending']:.1f}, PostgreSQL {pg:.1f})")

            timed("parsing alone (native)", parse_only, n)
            timed("first import (native, new)", first, n)
            timed("same file again (all unchanged)",
                  lambda: items_import(project=project, stream=native.open("rb")).as_dict(), n)
            timed("10% of the items changed",
                  lambda: items_import(project=project, stream=revised.open("rb")).as_dict(), n)
            timed("TRL conversational file (new)",
                  lambda: items_import(project=other, stream=trl.open("rb")).as_dict(), n)
        print(f"\nrows now: {Item.objects.count():,} items, {Response.objects.count():,} responses; "
              f"load {os.getloadavg()}")
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            admin_sql(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')


if __name__ == "__main__":
    main()
