import os

import pytest

from config.celery import ping

pytestmark = pytest.mark.integration


def test_a_task_round_trips_through_a_real_worker_process_and_redis(celery_worker, settings):
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    result = ping.delay("hello").get(timeout=30)
    assert result["payload"] == "hello"
    assert result["pid"] != os.getpid()
    assert result["db"] == "postgresql"


def test_a_real_worker_renders_an_imported_projects_markup(celery_worker, project):
    """The import's hint goes through Redis to the worker, which stores every item's HTML."""
    import json
    import time

    from annotator.models import Item, Response
    from annotator.services import items_import_text
    from config.markup import RENDERER_VERSION

    lines = "".join(json.dumps({"id": f"q{i}", "prompt": f"Question *{i}*?", "responses": [
        {"id": "a", "content": f"**Answer {i}**"}, {"id": "b", "content": "`code`"}]}) + "\n" for i in range(30))
    items_import_text(project=project, text=lines)  # committed: on_commit sends the hint
    deadline = time.monotonic() + 60
    while Item.objects.filter(project=project, markup_version=0).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert set(Item.objects.filter(project=project).values_list("markup_version", flat=True)) == {RENDERER_VERSION}
    assert Item.objects.get(external_id="q7").prompt_html == ["<p>Question <em>7</em>?</p>\n"]
    assert Response.objects.get(item__external_id="q7", external_id="a").content_html == (
        "<p><strong>Answer 7</strong></p>\n")
