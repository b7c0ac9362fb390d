"""PostgreSQL restarted under annotation load (issue 10, problem 2): a private cluster, gunicorn,
annotators over HTTP submitting through the htmx form until the queue is empty.

What must hold: no answer is a 500 (an outage answers 503 with Retry-After, or "Saved, next item
unavailable" after a committed submit); every submit answered "Saved" is in the database; the queue
ends with exactly `overlap` judgments per item, none twice; the item counters match the rows.
"""

import logging
import re
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx
import pytest

from .conftest import ROOT, app_call, app_env, free_port, wait_for

pytestmark = pytest.mark.faults

ITEMS, OVERLAP, ANNOTATORS, PASSWORD = 24, 3, 8, "outage-test-password-1"
SUBMIT = re.compile(r'hx-post="(/projects/\d+/annotate/(\d+)/submit/)"')


class Annotator(threading.Thread):
    """One browser: log in, then submit whatever the page shows until it says "All done"."""

    def __init__(self, base: str, username: str, project_id: int, stats: Counter, acked: set, errors: list,
                 deadline: float):
        super().__init__(daemon=True)
        self.base, self.username, self.project_id = base, username, project_id
        self.stats, self.acked, self.errors, self.deadline = stats, acked, errors, deadline

    def _request(self, client: httpx.Client, method: str, url: str, **kw) -> httpx.Response | None:
        """Send until the answer is not a 503; record every status. None when out of time."""
        while time.monotonic() < self.deadline:
            try:
                response = client.request(method, url, **kw)
            except httpx.TransportError as exc:  # the server closed the connection: count it, retry
                self.stats[f"transport:{type(exc).__name__}"] += 1
                time.sleep(0.3)
                continue
            self.stats[response.status_code] += 1
            if response.status_code == 503:
                assert response.headers.get("Retry-After"), "a 503 without Retry-After"
                time.sleep(0.3)
                continue
            if response.status_code >= 500:
                self.errors.append(f"{self.username} {method} {url}: {response.status_code}")
                time.sleep(0.3)
                continue
            return response
        return None

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.base, timeout=30, follow_redirects=True) as client:
                login = self._request(client, "GET", "/login/")
                token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
                self._request(client, "POST", "/login/", data={"username": self.username, "password": PASSWORD,
                                                              "csrfmiddlewaretoken": token})
                headers = {"HX-Request": "true", "X-CSRFToken": client.cookies["csrftoken"]}
                page = self._request(client, "GET", f"/projects/{self.project_id}/annotate/", headers=headers)
                while page is not None:
                    found = SUBMIT.search(page.text)
                    if found is None:
                        if "All done here" in page.text:
                            return
                        time.sleep(0.5)  # others hold the last items, or "next item unavailable": ask again
                        page = self._request(client, "GET", f"/projects/{self.project_id}/annotate/",
                                             headers=headers)
                        continue
                    url, assignment_id = found.group(1), int(found.group(2))
                    page = self._request(client, "POST", url, headers=headers,
                                         data={"preference": "1", "time_spent_ms": "900"})
                    if page is not None and ("Saved." in page.text or "Already saved" in page.text):
                        self.acked.add(assignment_id)
                        if "Next item unavailable" in page.text:
                            self.stats["200 saved, next item unavailable"] += 1
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(f"{self.username}: {type(exc).__name__}: {exc}")


def test_postgres_restarted_under_annotation_load_loses_nothing_and_answers_no_500(private_postgres, private_redis,
                                                                                    tmp_path):
    logging.getLogger("httpx").setLevel(logging.WARNING)
    private_postgres.create_database_like_tests("app")
    env = app_env(redis=private_redis, database_url=private_postgres.url("app"),
                  DJANGO_SETTINGS_MODULE="config.settings", SECRET_KEY="fault-test-secret-key-" + "x" * 40,
                  HTTPS="0", DEBUG="0", CONN_MAX_AGE="60", LOG_LEVEL="WARNING",
                  RUBRICATE_VAR_DIR=str(tmp_path / "var"), DATABASE_CONNECT_TIMEOUT="2")
    seed = app_call(env, "seed_annotation", items=ITEMS, overlap=OVERLAP, annotators=ANNOTATORS, password=PASSWORD)
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("ab")
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--threads", "4", "--timeout", "60", "--graceful-timeout", "5"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def ready():
            try:
                return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, 60, "gunicorn to be ready", lambda: (tmp_path / "gunicorn.log").read_text())
        stats: Counter = Counter()
        acked: set[int] = set()
        errors: list[str] = []
        deadline = time.monotonic() + 150
        annotators = [Annotator(base, name, seed["project"], stats, acked, errors, deadline)
                      for name in seed["annotators"]]
        for a in annotators:
            a.start()
        total = ITEMS * OVERLAP
        count = lambda: int(private_postgres.psql("SELECT count(*) FROM annotator_judgment", db="app"))  # noqa: E731
        wait_for(lambda: count() >= total // 4, 60, "a quarter of the judgments")
        private_postgres.restart("immediate")  # a crash: in-flight transactions are rolled back
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200  # ready again once it is back
        wait_for(lambda: count() >= total // 2, 60, "half of the judgments")
        private_postgres.restart("fast")  # a clean restart: sessions are terminated
        for a in annotators:
            a.join(timeout=max(1.0, deadline - time.monotonic()))
        assert not any(a.is_alive() for a in annotators), f"annotators did not finish: {stats}"
        assert errors == [], errors
        assert stats[500] == 0

        sql = private_postgres.psql
        per_item = sql("SELECT count(*), min(n), max(n) FROM (SELECT item_id, count(*) n FROM annotator_judgment "
                       "GROUP BY item_id) t", db="app")
        assert per_item == f"{ITEMS}|{OVERLAP}|{OVERLAP}"  # exact overlap on every item
        assert sql("SELECT count(*) FROM (SELECT 1 FROM annotator_judgment GROUP BY item_id, annotator_id "
                   "HAVING count(*) > 1) t", db="app") == "0"  # nobody judged an item twice
        assert sql("SELECT count(*) FROM annotator_item WHERE submitted_count <> "
                   f"{OVERLAP} OR is_open", db="app") == "0"  # the counters the queue reads are exact
        stored = {int(x) for x in sql("SELECT assignment_id FROM annotator_judgment", db="app").split()}
        assert acked <= stored and len(acked) == ITEMS * OVERLAP  # every acknowledged submit is stored
        print(f"\nanswers by status during two PostgreSQL restarts: {dict(stats)}")
    finally:
        web.terminate()
        try:
            web.wait(timeout=15)
        except subprocess.TimeoutExpired:
            web.kill()
