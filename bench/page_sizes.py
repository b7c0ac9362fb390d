"""Render time of the pages that draw an item's responses, at the response cap (IMPORT_MAX_RESPONSES).

Creates a PostgreSQL database of its own, imports one item with N responses (default: the cap, 32)
of ~2,000 characters each into a project with the demo's 7-criterion rubric, and times the
comparison page, the item page and the review page through Django's test client (server time,
no network). Prints median/max ms, the page size and its number of <input> elements, with the load.

    .venv/bin/python bench/page_sizes.py [--responses 32] [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time

from _common import admin_sql, configure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--responses", type=int, default=None, help="responses of the item (default: the cap)")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    db = configure("rubricate_bench_pages")
    os.environ["ALLOWED_HOSTS"] = "testserver"  # Django's test client
    admin_sql(f"DROP DATABASE IF EXISTS {db}")
    admin_sql(f"CREATE DATABASE {db}")
    try:
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        admin_sql(f"DROP DATABASE IF EXISTS {db}")


def run(args) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from annotator.models import Project, ProjectMembership
    from annotator.services import items_import_text

    call_command("migrate", verbosity=0)
    call_command("load_demo", verbosity=0)
    n = args.responses or settings.IMPORT_MAX_RESPONSES
    project = Project.objects.order_by("id").first()
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("bench", password="x", is_staff=True)
    ProjectMembership.objects.update_or_create(project=project, user=user, defaults={"role": "admin"})
    words = "The answer considers each step and explains why it holds. " * 35
    line = {"id": "big", "prompt": "Rank these answers.", "responses": [
        {"id": f"r{i}", "model": f"m{i}", "content": f"{i}: {words}"} for i in range(n)]}
    project.items.all().delete()
    items_import_text(project=project, text=json.dumps(line) + "\n")
    item = project.items.get()
    client = Client()
    client.force_login(user)
    pages = {"comparison": f"/projects/{project.id}/annotate/", "item": f"/projects/{project.id}/items/{item.id}/",
             "review": f"/projects/{project.id}/review/{item.id}/"}
    load = os.getloadavg()
    print(f"{n} responses of ~{len(words)} characters, rubric: {project.rubric_version}; "
          f"load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")
    for name, url in pages.items():
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        body = response.content.decode()
        print(f"{name:>10}: median {statistics.median(times):6.1f} ms, max {max(times):6.1f} ms, "
              f"{len(body) / 1024:6.0f} KiB, {len(re.findall(r'<input', body))} inputs")


if __name__ == "__main__":
    main()
