import re
from io import StringIO

import pytest
from django.core.management import call_command

from tests.helpers import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_admin_logs_in_with_the_printed_password_and_sees_the_demo_project(
    page, live_server, screenshots_dir
):
    out = StringIO()
    call_command("createadmin", stdout=out)
    password = re.search(r"password: (\S+)", out.getvalue()).group(1)
    call_command("load_demo", "--superusers", stdout=StringIO())

    login(page, live_server, "admin", password)
    card = page.locator(".project-card", has_text="Demo: general assistant comparisons")
    assert card.is_visible()
    assert "20" in card.inner_text()
    page.screenshot(path=str(screenshots_dir / "home.png"))

    card.click()
    page.wait_for_selector("#project-progress")
    assert "0 / 40" in page.inner_text("#project-progress")
