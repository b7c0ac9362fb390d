"""Judge throughput against a local fake OpenAI-compatible server with a fixed capacity.

The server (a separate process) serves `/v1/chat/completions` like a vLLM instance with a fixed
batch limit: at most --slots requests are processed at once, each takes --latency seconds, and the
rest wait in its queue. Its capacity is therefore slots / latency requests per second, whatever
the client does. Answers are HealthBench-style JSON verdicts with `logprobs`, so the client also
parses verdicts and rating distributions as in production.

The client is the `openai_judge` backend itself (scoring/backends/judge.py: thread pool, httpx
connection pool, SSRF check per request, parsing), in criteria mode over N responses × 4 criteria,
at several concurrency settings. The figure: requests/s reached, as a share of the server's
capacity (goal ≥ 0.9 at concurrency 32 against 32 slots), with the machine's load average.

Run by hand:  .venv/bin/python bench/judge.py [--latency 0.25] [--slots 32] [--concurrency 1,8,16,32,64]
Nothing else is needed: no database, no broker.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/queue.py would shadow the standard `queue` module: put the repository root first instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--latency", type=float, default=0.25, help="seconds per request inside the server")
    p.add_argument("--slots", type=int, default=32, help="requests the server processes at once")
    p.add_argument("--concurrency", default="1,8,16,32,64", help="judge concurrency settings to measure")
    p.add_argument("--criteria", type=int, default=4, help="rubric criteria per response")
    p.add_argument("--requests", type=int, default=None,
                   help="requests per setting (default: 30 × concurrency, at least 40)")
    p.add_argument("--repeats", type=int, default=2, help="timed repeats per setting (the best is kept)")
    p.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)  # the server process
    return p.parse_args()


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f} (5 min {five:.1f}) on {os.cpu_count()} cores"


# --- the fake server ----------------------------------------------------------------------------------
def verdict_body(met: bool) -> dict:
    p_true = 0.85 if met else 0.1
    tokens = [
        {"token": '{"', "logprob": -0.01}, {"token": "explanation", "logprob": -0.01},
        {"token": '":', "logprob": -0.01}, {"token": ' "checked"', "logprob": -0.2},
        {"token": ",", "logprob": -0.01}, {"token": ' "', "logprob": -0.01}, {"token": "criteria", "logprob": -0.01},
        {"token": "_met", "logprob": -0.01}, {"token": '":', "logprob": -0.01},
        {"token": " true" if met else " false", "logprob": math.log(p_true if met else 1 - p_true),
         "top_logprobs": [{"token": " true", "logprob": math.log(p_true)},
                          {"token": " false", "logprob": math.log(1 - p_true)}]},
        {"token": "}", "logprob": -0.01},
    ]
    content = "".join(t["token"] for t in tokens)
    return {"id": "chatcmpl-bench", "object": "chat.completion", "model": "judge",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "logprobs": {"content": tokens}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 400, "completion_tokens": len(tokens), "total_tokens": 400 + len(tokens)}}


def serve(port: int, latency: float, slots: int) -> None:
    """At most `slots` requests in service at once, `latency` seconds each; the rest queue."""
    gate = threading.BoundedSemaphore(slots)
    stats = {"served": 0, "max_busy": 0, "busy": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without this, Nagle's algorithm holds the body
        # back until the client's delayed ACK (~40 ms a request), which no real server does.
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def do_GET(self):  # /stats for the client
            data = json.dumps(stats).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            met = "Greets" in body.get("messages", [{}])[-1].get("content", "")
            with gate:
                with lock:
                    stats["busy"] += 1
                    stats["max_busy"] = max(stats["max_busy"], stats["busy"])
                time.sleep(latency)
                with lock:
                    stats["busy"] -= 1
                    stats["served"] += 1
            data = json.dumps(verdict_body(met)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.request_queue_size = 1024
    print("ready", flush=True)
    server.serve_forever()


def start_server(latency: float, slots: int) -> tuple[subprocess.Popen, int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--latency", str(latency),
                             "--slots", str(slots)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc, port


# --- the client ---------------------------------------------------------------------------------------
def main() -> int:
    args = parse_args()
    if args.serve:
        serve(args.serve, args.latency, args.slots)
        return 0
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["SCORING_JUDGE_ALLOWED_HOSTS"] = "127.0.0.1"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    from scoring.backends import ScorerSpec, build_backend
    from scoring.backends.base import CriterionSpec, ScoreInput, ScoringContext

    criteria = [CriterionSpec(id=i + 1, key=f"c{i}", title=("Greets the user" if i == 0 else f"Criterion {i}"),
                              points=1) for i in range(args.criteria)]
    proc, port = start_server(args.latency, args.slots)
    capacity = args.slots / args.latency
    print(f"server     fake OpenAI-compatible endpoint: {args.slots} slots × {args.latency * 1000:.0f} ms per request "
          f"= capacity {capacity:.0f} requests/s (a separate process)")
    print(f"client     openai_judge backend, criteria mode, {args.criteria} criteria per response, logprobs parsed")
    print(f"machine    {load()}")
    rows = []
    try:
        for concurrency in [int(c) for c in args.concurrency.split(",") if c.strip()]:
            n_requests = args.requests or max(40, 30 * concurrency)
            responses = max(1, n_requests // args.criteria)
            inputs = [ScoreInput(response_id=i, item_id=i, prompt=[{"role": "user", "content": f"Say hello {i}"}],
                                 response=f"Hello there, number {i}!") for i in range(responses)]
            spec = ScorerSpec(id=1, name="bench-judge", backend="openai_judge", model="judge", options={
                "base_url": f"http://127.0.0.1:{port}/v1", "concurrency": concurrency, "timeout": 120,
                "max_retries": 2})
            backend = build_backend(spec)
            best = None
            for _ in range(args.repeats):
                before = load()
                start = time.perf_counter()
                results = backend.score(inputs, ScoringContext(criteria=criteria))
                elapsed = time.perf_counter() - start
                assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
                assert all(v.distribution for r in results for v in r.criteria)
                rate = responses * args.criteria / elapsed
                if best is None or rate > best[0]:
                    best = (rate, elapsed, before, load())
            backend.close()
            rate, elapsed, before, after = best
            ideal = min(capacity, concurrency / args.latency)
            rows.append((concurrency, responses * args.criteria, elapsed, rate, rate / capacity, rate / ideal,
                         before, after))
            print(f"  concurrency {concurrency:3d}: {rate:7.1f} requests/s ({rate / capacity:.2f} of capacity)  "
                  f"{before} / {after}", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"\nbest of {args.repeats}; capacity {capacity:.0f} requests/s; 'of ideal' = of min(capacity, "
          "concurrency / latency), what that concurrency could reach at most")
    print("  concurrency  requests   wall s   requests/s   of capacity   of ideal   load before / after")
    for c, n, elapsed, rate, of_cap, of_ideal, before, after in rows:
        print(f"  {c:11d} {n:9d} {elapsed:8.2f} {rate:12.1f} {of_cap:13.2f} {of_ideal:10.2f}   {before} / {after}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
