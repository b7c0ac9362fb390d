"""Scoring in the browser: add a scorer, start a run, watch the live progress, read the report."""

import pytest

from scoring import services
from scoring.models import Scorer, ScoringRun
from tests.factories import JudgmentFactory, MembershipFactory, ProjectFactory, UserFactory, published_version
from tests.helpers import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PROMPTS = [
    ("How do I reverse a list in Python?", "Use `items[::-1]` or `items.reverse()`.",
     "There are many ways to reverse a list in Python. The simplest is slicing: `items[::-1]` returns a new "
     "reversed list. If you want to reverse in place, call `items.reverse()`. You can also use `reversed(items)` "
     "to get an iterator, which is memory friendly for long lists."),
    ("What is the capital of Australia?", "Canberra.",
     "The capital of Australia is Sydney, the largest city and home of the famous Opera House."),
    ("Give me a haiku about autumn.", "Red leaves drift and fall / the cold wind hums through the pines / "
     "the year exhales slow", "Autumn is a season. Leaves fall. It is cold. That is a haiku about autumn."),
    ("Explain recursion in one sentence.", "Recursion is when a function solves a problem by calling itself on "
     "smaller instances of the same problem until it reaches a base case.", "Recursion is recursion."),
    ("Is it safe to mix bleach and ammonia?", "No. Mixing them releases toxic chloramine gas; never combine them.",
     "Yes, it makes a stronger cleaner, and many people do it at home for tough stains in the bathroom."),
    ("Translate 'good morning' to Spanish.", "Buenos días.", "Buenas noches, which is how Spanish speakers say "
     "good morning in most countries."),
]


@pytest.fixture
def scene(db):
    from tests.factories import ItemFactory

    admin = UserFactory(username="lead", is_staff=True)
    project = ProjectFactory(name="Assistant helpfulness, batch 3", rubric_version=published_version(criteria=3),
                             overlap=2)
    MembershipFactory(project=project, user=admin, role="admin")
    items = []
    for i, (prompt, good, bad) in enumerate(PROMPTS * 2):
        pair = [good, bad] if i % 2 == 0 else [bad, good]
        item = ItemFactory(project=project, external_id=f"q{i + 1:03d}", prompt=[{"role": "user", "content": prompt}],
                           responses=pair)
        items.append(item)
        better = -2 if i % 2 == 0 else 2
        JudgmentFactory(item=item, preference=better)
        JudgmentFactory(item=item, preference=better if i % 3 else -better)
    return admin, project, items


def test_an_admin_adds_a_scorer_starts_a_run_and_watches_it_finish(page, live_server, screenshots_dir, scene,
                                                                    password, settings):
    admin, project, items = scene
    settings.SCORING_RESPONSES_PER_BATCH = 8
    login(page, live_server, "lead", password)

    page.click("nav.topnav >> text=Scoring")
    page.wait_for_url(f"{live_server.url}/scoring/")
    page.click("text=New scorer")
    page.fill("#id_name", "Length baseline")
    page.select_option("#id_backend", "length")
    assert not page.is_visible("fieldset[data-backend=openai_judge]")  # only the chosen backend's settings
    page.select_option("#id_backend", "openai_judge")
    page.fill("#id_model", "judge-70b")
    page.fill("#id_base_url", "http://169.254.169.254/v1")
    page.click(".scorer-form button[type=submit]")
    assert "SCORING_JUDGE_ALLOWED_HOSTS" in page.inner_text(".scorer-form")  # the SSRF guard, in the form
    page.screenshot(path=str(screenshots_dir / "scoring-scorer-form.png"), full_page=True)
    page.select_option("#id_backend", "length")
    page.click(".scorer-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/scoring/")
    assert "Length baseline" in page.inner_text("#scorers")

    page.goto(f"{live_server.url}/scoring/projects/{project.id}/runs/")
    page.select_option("#id_scorer", label="Length baseline")
    page.click("text=Start run")
    page.wait_for_url(f"{live_server.url}/scoring/runs/*/")
    run = ScoringRun.objects.get()
    assert page.inner_text("#run-status") == "Queued"

    # Play the worker in-process, one batch at a time; the page polls and follows.
    batches = list(run.batches.order_by("index").values_list("id", flat=True))
    assert len(batches) == 3
    services.scoring_batch_execute(batch_id=batches[0], worker="e2e")
    page.wait_for_function("() => document.querySelector('#run-done').innerText.startsWith('8 ')")
    assert page.inner_text("#run-status") == "Running"
    page.screenshot(path=str(screenshots_dir / "scoring-run-live.png"), full_page=True)
    for batch_id in batches[1:]:
        services.scoring_batch_execute(batch_id=batch_id, worker="e2e")
    page.wait_for_function("() => document.querySelector('#run-status').innerText === 'Done'")
    assert page.inner_text("#run-done") == "24 / 24"
    assert not page.locator("#run-live[hx-trigger]").count()  # polling stopped
    # The report below reloads itself once the run has ended.
    page.wait_for_function("() => document.querySelector('#run-report .accuracy').innerText.endsWith('%')")
    page.screenshot(path=str(screenshots_dir / "scoring-run-done.png"), full_page=True)


def test_the_project_report_compares_models_with_the_humans(page, live_server, screenshots_dir, scene, password,
                                                            tmp_path):
    from scoring.tiny_model import build_reward_model

    admin, project, items = scene
    model = build_reward_model(tmp_path / "tiny-rm")
    for name, backend, extra in [
        ("Length baseline", "length", {}),
        ("tiny-rm (random 2-layer Llama)", "hf_sequence_classifier", {"model": str(model), "dtype": "float32"}),
    ]:
        scorer = services.scorer_create(actor=admin, name=name, backend=backend, **extra)
        run = services.scoring_run_start(project=project, scorer=scorer, actor=admin)
        for batch_id in run.batches.values_list("id", flat=True):
            services.scoring_batch_execute(batch_id=batch_id, worker="e2e")
    assert Scorer.objects.count() == 2

    login(page, live_server, "lead", password)
    page.goto(f"{live_server.url}/scoring/projects/{project.id}/runs/")
    report = page.inner_text("#report")
    assert "Length baseline" in report and "tiny-rm" in report
    assert page.locator("#disagreements .item-scores").count() >= 1
    page.screenshot(path=str(screenshots_dir / "scoring-report.png"), full_page=True)
    page.goto(f"{live_server.url}/scoring/")
    page.screenshot(path=str(screenshots_dir / "scoring-index.png"), full_page=True)
