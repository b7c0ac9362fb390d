"""Content-Security-Policy (security finding 7): every page a user reaches loads under
`default-src 'self'` with no inline script or style, and Chromium reports no violation."""

import re
from io import StringIO

import pytest
from django.core.management import call_command

from annotator.models import Project
from tests.helpers import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _pages(project_id: int, item_id: int) -> list[str]:
    return [
        "/", f"/projects/{project_id}/", f"/projects/{project_id}/annotate/", f"/projects/{project_id}/items/",
        f"/projects/{project_id}/items/{item_id}/", f"/projects/{project_id}/review/",
        f"/projects/{project_id}/members/", f"/projects/{project_id}/settings/", f"/projects/{project_id}/import/",
        f"/projects/{project_id}/export/", "/scoring/", f"/scoring/projects/{project_id}/runs/",
        "/rubrics/", "/account/tokens/", "/account/users/", "/api/v1/docs/",
    ]


def test_every_page_loads_without_a_csp_violation(page, live_server):
    out = StringIO()
    call_command("createadmin", stdout=out)
    password = re.search(r"password: (\S+)", out.getvalue()).group(1)
    call_command("load_demo", "--superusers", stdout=StringIO())
    project = Project.objects.get()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(f"{page.url}: {m.text}")
            if "Content Security Policy" in m.text or "Refused to" in m.text else None)
    login(page, live_server, "admin", password)
    rubric = project.rubric_version
    # A newer version (the move offer) and an invitation link (the set-password page).
    from accounts.services import user_invite
    from rubrics import services as rubric_services

    admin = project.memberships.get().user
    v2 = rubric_services.rubric_version_publish(version=rubric_services.rubric_draft_create(
        rubric_set=rubric.rubric_set, actor=admin, from_version=rubric), actor=admin)
    invite = user_invite(username="newcomer", actor=admin)
    urls = _pages(project.id, project.items.order_by("id").first().id) + [
        f"/rubrics/{rubric.rubric_set.slug}/", f"/rubrics/{rubric.rubric_set.slug}/v/{rubric.number}/",
        f"/projects/rubric/{rubric.rubric_set.slug}/v/{v2.number}/move/", f"/account/invite/{invite.secret}/"]
    for path in urls:
        response = page.goto(live_server.url + path)
        assert response.status < 400, (path, response.status)
        header = response.headers.get("content-security-policy", "")
        # django-csp does not promise an order for the directives: compare them by name.
        directives = dict((part.strip().split(None, 1) + [""])[:2] for part in header.split(";") if part.strip())
        assert directives.get("default-src") == "'self'" and directives.get("script-src") == "'self'", (path, header)
        assert "unsafe-inline" not in header and "unsafe-eval" not in header, path
        page.wait_for_load_state("networkidle")
    assert violations == [], "\n".join(violations)
