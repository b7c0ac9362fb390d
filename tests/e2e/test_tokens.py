"""API tokens in the browser: create one (shown once), use it from a script, revoke it."""

import httpx
import pytest

from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.helpers import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_user_creates_a_token_uses_it_and_revokes_it(page, live_server, screenshots_dir, password):
    user = UserFactory(username="maria")
    MembershipFactory(project=ProjectFactory(name="Assistant helpfulness, batch 4"), user=user)
    login(page, live_server, "maria", password)

    page.click("nav.topnav >> text=API tokens")
    page.wait_for_url(f"{live_server.url}/account/tokens/")
    page.fill("#token-name", "training pipeline")
    page.select_option("#token-expiry", "30")
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("#token-created")
    secret = page.input_value("#token-secret")
    assert secret.startswith("rbk_")
    page.screenshot(path=str(screenshots_dir / "tokens.png"), full_page=True)

    response = httpx.get(f"{live_server.url}/api/v1/projects/", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    assert [p["name"] for p in response.json()] == ["Assistant helpfulness, batch 4"]

    page.goto(f"{live_server.url}/account/tokens/")
    assert secret not in page.content(), "the secret is never shown again"
    row = page.locator("#token-list tbody tr", has_text="training pipeline")
    assert "active" in row.inner_text()
    row.locator("button", has_text="Revoke").click()
    page.wait_for_selector(".flash-success")
    assert "revoked" in page.locator("#token-list tbody tr", has_text="training pipeline").inner_text()
    response = httpx.get(f"{live_server.url}/api/v1/projects/", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401
