"""A local OpenAI-compatible chat endpoint for the judge tests: real HTTP on 127.0.0.1.

`FakeOpenAI(handler)`: handler(body: dict, headers: dict) -> reply, where reply is a string (the
assistant's content), a dict (a whole JSON body), or a tuple (status, body-or-content, delay_s,
response headers). Every request is recorded in `.requests` with its arrival time (`at`, monotonic);
`.max_in_flight` is the most requests the server held at once.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def completion(content: str, tokens: int = 30) -> dict:
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "model": "judge",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": tokens - 10, "completion_tokens": 10, "total_tokens": tokens},
    }


class FakeOpenAI:
    def __init__(self, handler):
        self.handler = handler
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                headers = {k.lower(): v for k, v in self.headers.items()}
                with outer._lock:
                    outer.requests.append({"path": self.path, "body": body, "headers": headers,
                                           "at": time.monotonic()})
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                try:
                    reply = outer.handler(body, headers)
                    status, delay, extra_headers = 200, 0.0, {}
                    if isinstance(reply, tuple):
                        status, reply, delay, extra_headers = (list(reply) + [0.0, {}][len(reply) - 2:])[:4]
                    if delay:
                        time.sleep(delay)
                finally:
                    with outer._lock:
                        outer.in_flight -= 1
                if isinstance(reply, str):
                    reply = completion(reply)
                data = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    for name, value in (extra_headers or {}).items():
                        self.send_header(name, str(value))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def user_prompts(self) -> list[str]:
        return [r["body"]["messages"][-1]["content"] for r in self.requests]
