"""Insights in the browser, under a strict Content-Security-Policy: every page draws its charts, and a
screenshot of each (1366×850) is saved as insights-*.png (`make screenshots` refreshes
docs/screenshots/)."""

import pytest

from insights.models import InsightsSnapshot
from insights.services import insights_snapshot_compute
from tests.helpers import login
from tests.insights.builders import showcase_project

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# What the pages must work under: no inline script, no inline style, no eval, nothing from elsewhere.
# The app sends such a policy itself (django-csp, config/settings.py); the test pins its own, so the
# pages keep working under it whatever the settings say.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
PAGES = [("overview", ""), ("agreement", "agreement/"), ("annotators", "annotators/"),
         ("model-vs-human", "scorers/"), ("rubric", "rubric/"), ("leaderboard", "leaderboard/")]


@pytest.fixture
def showcase(db):
    project, admin = showcase_project()
    snapshot = InsightsSnapshot.objects.create(project=project, status="queued")
    assert insights_snapshot_compute(snapshot_id=snapshot.pk) == "done"
    return project, admin


def _with_csp(page, live_server, problems):
    def add_header(route):
        response = route.fetch(max_redirects=0)  # the browser follows redirects itself
        headers = {**response.headers, "content-security-policy": CSP}
        route.fulfill(response=response, headers=headers)

    page.route(f"{live_server.url}/**", add_header)
    page.on("console", lambda m: problems.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"{page.url}: {e}"))


def test_every_insights_page_draws_its_charts_under_a_strict_csp(browser, live_server, screenshots_dir, showcase,
                                                                  password):
    project, _admin = showcase
    context = browser.new_context(viewport={"width": 1366, "height": 850}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(20000)
    problems: list[str] = []
    _with_csp(page, live_server, problems)
    login(page, live_server, "lead", password)

    page.goto(f"{live_server.url}/projects/{project.id}/")
    page.click("#insights-link")
    page.wait_for_url(f"{live_server.url}/projects/{project.id}/insights/")
    problems.clear()  # the pages before are not Insights' to answer for
    for name, path in PAGES:
        page.goto(f"{live_server.url}/projects/{project.id}/insights/{path}")
        canvases = page.locator("canvas[data-chart]")
        for i in range(canvases.count()):
            canvas = canvases.nth(i)
            canvas.wait_for(state="attached")
            page.wait_for_function("c => c.getAttribute('data-drawn') === 'true'", arg=canvas.element_handle())
        page.screenshot(path=str(screenshots_dir / f"insights-{name}.png"))
    assert problems == [], problems
    context.close()


def test_the_csv_link_downloads_the_table(browser, live_server, showcase, password):
    project, _admin = showcase
    context = browser.new_context(viewport={"width": 1366, "height": 850}, accept_downloads=True)
    page = context.new_page()
    login(page, live_server, "lead", password)
    page.goto(f"{live_server.url}/projects/{project.id}/insights/leaderboard/")
    page.click("#table-leaderboard summary .insights-table-title")
    with page.expect_download() as download:
        page.click("#table-leaderboard .csv-link")
    text = open(download.value.path(), encoding="utf-8").read()  # noqa: SIM115 - a temp file Playwright owns
    assert text.splitlines()[0].startswith("source,rank,model,strength,low,high")
    assert "llama-3.1-8b" in text and "skywork-rm-8b" in text
    context.close()
