"""Export in the browser: pick a format and filters, watch the count, download JSONL, run a Parquet
export and download its file when it is ready."""

import json
import random
from pathlib import Path

import pytest

from annotator.models import ProjectMembership
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory, published_version
from tests.helpers import T0, login, make_judgment

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PROMPTS = [
    ("How do I reverse a list in Python?", "Use `items[::-1]`, or `items.reverse()` in place.",
     "Python lists cannot be reversed; copy the items into a new list by hand."),
    ("What is the capital of Australia?", "Canberra.", "Sydney, the largest city."),
    ("Is it safe to mix bleach and ammonia?", "No: it releases toxic chloramine gas.",
     "Yes, it makes a stronger cleaner."),
    ("Explain recursion in one sentence.", "A function that solves a problem by calling itself on smaller "
     "instances until a base case.", "Recursion is recursion."),
    ("Translate 'good morning' to Spanish.", "Buenos días.", "Buenas noches."),
    ("Summarise the causes of World War I.", "Alliances, militarism, imperialism and nationalism, set off by "
     "the assassination of Franz Ferdinand.", "It started because of one assassination."),
]


@pytest.fixture
def scene(db):
    """A project of 24 items judged twice by three annotators, with rubric scores: realistic numbers."""
    rng = random.Random(7)
    lead = UserFactory(username="lead")
    version = published_version(criteria=3)
    project = ProjectFactory(name="Assistant helpfulness, batch 4", rubric_version=version, overlap=2)
    MembershipFactory(project=project, user=lead, role=ProjectMembership.Role.ADMIN)
    annotators = [UserFactory(username=name) for name in ("maria", "kenji", "ade")]
    for user in annotators:
        MembershipFactory(project=project, user=user)
    criteria = list(version.criteria.order_by("position"))
    for i in range(24):
        prompt, good, bad = PROMPTS[i % len(PROMPTS)]
        flip = i % 2 == 1
        item = ItemFactory(project=project, external_id=f"q{i + 1:03d}", prompt=[{"role": "user", "content": prompt}],
                           responses=[bad, good] if flip else [good, bad])
        responses = list(item.responses.order_by("position"))
        for k, user in enumerate(rng.sample(annotators, 2)):
            strength = rng.choice([1, 2, 2, 3, 3]) * (1 if flip else -1)
            if rng.random() < 0.15:
                strength = -strength if rng.random() < 0.5 else 0
            scores = {(r, c): (1 if (r.content == good) == (c.points > 0) else 0) if c.scale == "binary"
                      else (rng.choice([4, 5]) if r.content == good else rng.choice([1, 2, 3])) if c.scale == "likert5"
                      else (0 if r.content == good else c.points) for r in responses for c in criteria}
            make_judgment(item, user, preference=strength, rationale="The better one is correct and direct.",
                          at=T0.replace(day=1 + i % 20, hour=9 + k), scores=scores)
    return lead, project


def test_an_admin_filters_counts_and_downloads_an_export(page, live_server, screenshots_dir, scene, password):
    lead, project = scene
    login(page, live_server, "lead", password)
    page.goto(f"{live_server.url}/projects/{project.id}/export/")
    page.wait_for_selector("#match-count")
    first = int(page.inner_text("#match-count").split()[0])
    assert 0 < first <= 24
    page.wait_for_selector("#alpha-winner")

    page.select_option("#f-tie", "keep")
    page.wait_for_function("(n) => !document.querySelector('#match-count').innerText.startsWith(n + ' ')",
                           arg=str(first))
    kept = int(page.inner_text("#match-count").split()[0])
    assert kept >= first
    page.check("input[name=format][value=helpsteer2]")
    page.wait_for_function("() => document.querySelector('#match-count').innerText.includes('helpsteer2')")
    page.screenshot(path=str(screenshots_dir / "export.png"), full_page=True)

    with page.expect_download() as info:
        page.click("#download-button")
    rows = [json.loads(line) for line in Path(info.value.path()).read_text(encoding="utf-8").splitlines()]
    assert len(rows) == int(page.inner_text("#match-count").split()[0])
    assert set(rows[0]) >= {"prompt", "response_1", "response_2", "preference_strength", "justification"}
    assert info.value.suggested_filename.startswith(f"project-{project.id}-helpsteer2-")


@pytest.fixture
def eager_tasks():
    """Tasks run inside the server's request here; tests/api/test_export_worker.py uses a real worker."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def test_a_parquet_export_appears_and_downloads_when_ready(page, live_server, scene, password, eager_tasks, settings,
                                                           tmp_path):
    settings.EXPORT_ROOT = tmp_path / "exports"
    lead, project = scene
    login(page, live_server, "lead", password)
    page.goto(f"{live_server.url}/projects/{project.id}/export/")
    page.check("input[name=format][value=judgments]")
    page.click("#parquet-button")
    row = page.locator("#export-jobs tbody tr").first
    row.locator("text=Done").wait_for()
    assert row.locator("td.num").first.inner_text() == "48"
    with page.expect_download() as info:
        row.locator("text=Download").click()
    assert Path(info.value.path()).read_bytes()[:4] == b"PAR1"
    assert info.value.suggested_filename.endswith(".parquet")
