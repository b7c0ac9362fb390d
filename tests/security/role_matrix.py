"""Who may do what: the one declared table of the role matrix (tests/security/test_role_matrix.py).

`ROLE_MATRIX` maps every route of the URL conf (its name, "namespace:name", or for an unnamed
route its path pattern; a key with `*` is a glob) to a row of expected answers, or to one row per
HTTP method. A route the walk finds without an entry fails the suite with its name: a new route
needs a line here, which is where its access rule is decided and reviewed.

The answers, as `outcome` classifies a response:

- `ok`: the request got past access control (2xx, a redirect elsewhere than the login page, or a
  400/409 about the empty body the walk sends);
- `login`: not logged in: a redirect to the login page (pages) or 401 (API);
- `404`: not a member of the project, or not the owner of the object: nobody learns it exists;
- `403`: a member whose role does not allow it, or a site-admin-only action (`access.py`);
- `405`: a method the route does not take.

The world the walk runs in (the `world` fixture): one project with every kind of object; an
annotator who holds a lease on its one (gold) item; a reviewer; a project admin; a site admin
(`is_staff`, made on the Users page, who is no member of the project: site admins do not see into
projects they do not belong to); an outsider, who administers a project of their own.
"""

from __future__ import annotations

import fnmatch

ROLES = ("anonymous", "outsider", "annotator", "reviewer", "project admin", "site admin")


def row(anonymous: str, outsider: str, annotator: str, reviewer: str, project_admin: str, site_admin: str) -> dict:
    return dict(zip(ROLES, (anonymous, outsider, annotator, reviewer, project_admin, site_admin), strict=True))


PUBLIC = row("ok", "ok", "ok", "ok", "ok", "ok")
# Any logged-in account: the page or list shows only what is theirs.
USER = row("login", "ok", "ok", "ok", "ok", "ok")
# access.ROLES_ANY: every member of the project.
MEMBER = row("login", "404", "ok", "ok", "ok", "404")
# access.ROLES_STAFF: reviewers and project admins (review, items, gold, exports, scoring, insights).
STAFF = row("login", "404", "403", "ok", "ok", "404")
# access.ROLES_ADMIN: project admins (settings, members, imports, starting and cancelling runs).
PROJECT_ADMIN = row("login", "404", "403", "403", "ok", "404")
# The annotator's own lease or token: anyone else, staff included, gets 404.
OWN = row("login", "404", "ok", "404", "404", "404")
# Another annotator's judgment: staff read it, an annotator learns nothing of it.
OTHERS_JUDGMENT = row("login", "404", "404", "ok", "ok", "404")
# access.require_site_admin: rubric sets, scorers, new projects, users.
SITE_ADMIN = row("login", "403", "403", "403", "403", "ok")
# A rubric version: readable by members of a project that uses it, and by site admins; else 404.
RUBRIC_READ = row("login", "404", "ok", "ok", "ok", "ok")
# Its editor and history: site admins; a member who may read it gets 403, an outsider 404.
RUBRIC_WRITE = row("login", "404", "403", "403", "403", "ok")
# The move offer after publishing: site admins, or a project admin with a project on an older version
# of the set (here none is), else 404.
RUBRIC_MOVE = row("login", "404", "404", "404", "404", "ok")
# A write sent as GET, or a read sent as POST.
WRONG_METHOD = row("login", "405", "405", "405", "405", "405")
# Django's admin: staff only (others are sent to its login page). A site admin made on the Users page
# has no model permissions: only `createadmin`'s superuser edits rows there.
ADMIN_PAGE = row("login", "login", "login", "login", "login", "ok")
ADMIN_MODEL = row("login", "login", "login", "login", "login", "403")
ADMIN_MISSING = row("login", "login", "login", "login", "login", "404")
ADMIN_WRONG_METHOD = row("login", "login", "login", "login", "login", "405")

ROLE_MATRIX: dict[str, dict] = {
    # Health checks, login, the API's description, the icon: for everyone.
    "healthz": PUBLIC,
    "readyz": PUBLIC,
    "login": PUBLIC,
    "logout": {"GET": row("405", "405", "405", "405", "405", "405"), "POST": row(*["login"] * 6)},
    "api-schema": PUBLIC,
    "api-docs": PUBLIC,
    "favicon.ico": PUBLIC,
    "account:invite_accept": PUBLIC,
    "home": USER,
    # Projects.
    "annotator:project_new": SITE_ADMIN,
    "annotator:rubric_switch": RUBRIC_MOVE,
    "annotator:project_detail": MEMBER,
    "annotator:project_settings": PROJECT_ADMIN,
    "annotator:project_members": PROJECT_ADMIN,
    "annotator:member_invite": {"GET": WRONG_METHOD, "POST": PROJECT_ADMIN},
    # (a new link: whoever invited the person, here the project admin, or a site admin who is a member)
    "annotator:member_invite_link": {"GET": WRONG_METHOD, "POST": PROJECT_ADMIN},
    "annotator:member_role": {"GET": WRONG_METHOD, "POST": PROJECT_ADMIN},
    "annotator:member_remove": {"GET": WRONG_METHOD, "POST": PROJECT_ADMIN},
    # Items, gold and import.
    "annotator:item_import": PROJECT_ADMIN,
    "annotator:item_list": STAFF,
    "annotator:item_detail": STAFF,
    "annotator:item_gold": {"GET": WRONG_METHOD, "POST": PROJECT_ADMIN},
    "annotator:gold_report": STAFF,
    # The comparison page: every member annotates; a lease is its holder's.
    "annotator:annotate": MEMBER,
    "annotator:annotate_undo": {"GET": WRONG_METHOD, "POST": MEMBER},
    "annotator:annotate_submit": {"GET": WRONG_METHOD, "POST": OWN},
    "annotator:annotate_skip": {"GET": WRONG_METHOD, "POST": OWN},
    "annotator:annotate_heartbeat": {"GET": WRONG_METHOD, "POST": OWN},
    # Review.
    "annotator:review_list": STAFF,
    "annotator:review_item": STAFF,
    "annotator:review_clear": {"GET": WRONG_METHOD, "POST": STAFF},
    # Exports.
    "exports:page": STAFF,
    "exports:download": {"GET": STAFF, "POST": WRONG_METHOD},
    "exports:count": {"GET": STAFF, "POST": WRONG_METHOD},
    "exports:agreement": {"GET": STAFF, "POST": WRONG_METHOD},
    "exports:job": {"GET": STAFF, "POST": WRONG_METHOD},
    # Insights.
    "insights:overview": STAFF,
    "insights:progress": STAFF,
    "insights:refresh": {"GET": WRONG_METHOD, "POST": STAFF},
    "insights:rubric_draft": {"GET": WRONG_METHOD, "POST": STAFF},
    "insights:section": STAFF,
    # Rubrics.
    "rubrics:set_list": USER,
    "rubrics:set_new": SITE_ADMIN,
    "rubrics:import": SITE_ADMIN,
    "rubrics:set_detail": RUBRIC_READ,
    "rubrics:set_edit": {"GET": WRONG_METHOD, "POST": RUBRIC_WRITE},
    "rubrics:set_history": {"GET": RUBRIC_WRITE, "POST": WRONG_METHOD},
    "rubrics:set_new_draft": {"GET": WRONG_METHOD, "POST": RUBRIC_WRITE},
    "rubrics:set_compare": RUBRIC_READ,
    "rubrics:version_detail": RUBRIC_READ,
    "rubrics:version_preview": {"GET": RUBRIC_READ, "POST": WRONG_METHOD},
    "rubrics:version_export": {"GET": RUBRIC_READ, "POST": WRONG_METHOD},
    "rubrics:version_publish": {"GET": WRONG_METHOD, "POST": RUBRIC_WRITE},
    "rubrics:version_archive": {"GET": WRONG_METHOD, "POST": RUBRIC_WRITE},
    "rubrics:version_unarchive": {"GET": WRONG_METHOD, "POST": RUBRIC_WRITE},
    "rubrics:version_discard": {"GET": WRONG_METHOD, "POST": RUBRIC_WRITE},
    "rubrics:version_notes": {"GET": WRONG_METHOD, "POST": RUBRIC_WRITE},
    "rubrics:criterion_add": {"GET": WRONG_METHOD, "POST": RUBRIC_WRITE},
    "rubrics:criteria_reorder": {"GET": WRONG_METHOD, "POST": RUBRIC_WRITE},
    "rubrics:criterion_row": {"GET": RUBRIC_WRITE, "POST": WRONG_METHOD},
    "rubrics:criterion_edit": RUBRIC_WRITE,
    "rubrics:criterion_delete": {"GET": WRONG_METHOD, "POST": RUBRIC_WRITE},
    "rubrics:criterion_duplicate": {"GET": WRONG_METHOD, "POST": RUBRIC_WRITE},
    # Scoring: the scorer list for everyone logged in (judge URLs and options for site admins only).
    "scoring:index": USER,
    "scoring:scorer_create": SITE_ADMIN,
    "scoring:scorer_edit": SITE_ADMIN,
    "scoring:project_runs": STAFF,
    "scoring:run_start": {"GET": WRONG_METHOD, "POST": PROJECT_ADMIN},
    "scoring:project_probes": STAFF,
    "scoring:probe_start": {"GET": WRONG_METHOD, "POST": PROJECT_ADMIN},
    "scoring:run_detail": STAFF,
    "scoring:run_progress": STAFF,
    "scoring:run_cancel": {"GET": WRONG_METHOD, "POST": PROJECT_ADMIN},
    "scoring:run_retry": {"GET": WRONG_METHOD, "POST": PROJECT_ADMIN},
    # Accounts.
    "account:tokens": USER,
    "account:token_revoke": {"GET": WRONG_METHOD, "POST": OWN},
    "account:users": SITE_ADMIN,
    "account:user_invite_link": {"GET": WRONG_METHOD, "POST": SITE_ADMIN},
    "account:user_active": {"GET": WRONG_METHOD, "POST": SITE_ADMIN},
    "account:user_site_admin": {"GET": WRONG_METHOD, "POST": SITE_ADMIN},
    # The API (Bearer tokens).
    "api-me": USER,
    "api-token-list": USER,
    "api-token-revoke": OWN,
    "api-project-list": USER,
    "api-project-detail": MEMBER,
    "api-items-import": PROJECT_ADMIN,
    "api-item-list": STAFF,
    "api-item-detail": STAFF,
    "api-judgment-list": MEMBER,  # an annotator's own judgments only (checked on the bodies)
    "api-judgments-import": PROJECT_ADMIN,
    "api-annotate-next": MEMBER,
    "api-annotate-submit": OWN,
    "api-annotate-skip": OWN,
    "api-annotate-heartbeat": OWN,
    "api-judgment-detail": OTHERS_JUDGMENT,
    "api-agreement": STAFF,
    "api-rubric-set-list": {"GET": USER, "POST": SITE_ADMIN},
    "api-rubric-import": SITE_ADMIN,
    "api-rubric-set-detail": {"GET": RUBRIC_READ, "PATCH": RUBRIC_WRITE},
    "api-rubric-set-history": RUBRIC_WRITE,
    "api-rubric-version-create": RUBRIC_WRITE,
    "api-rubric-version-detail": {"GET": RUBRIC_READ, "PUT": RUBRIC_WRITE, "DELETE": RUBRIC_WRITE},
    "api-rubric-version-publish": RUBRIC_WRITE,
    "api-rubric-version-archive": RUBRIC_WRITE,
    "api-rubric-version-unarchive": RUBRIC_WRITE,
    "api-rubric-version-export": RUBRIC_READ,
    "api-rubric-version-diff": RUBRIC_READ,
    "api-scorer-list": USER,
    "api-scoring-run-list": {"GET": STAFF, "POST": PROJECT_ADMIN},
    "api-model-score-list": STAFF,
    "api-scoring-report": STAFF,
    "api-scoring-probes": {"GET": STAFF, "POST": PROJECT_ADMIN},
    "api-rubric-scores": STAFF,
    "api-scoring-run-detail": STAFF,
    "api-scoring-run-cancel": PROJECT_ADMIN,
    "api-scoring-run-retry": PROJECT_ADMIN,
    "api-export": STAFF,
    "api-export-count": STAFF,
    "api-export-job-list": STAFF,
    "api-export-job-detail": STAFF,
    "api-export-job-download": STAFF,
    "api-insights": STAFF,
    "api-insights-refresh": STAFF,
    "api-insights-table": STAFF,
    # Django's admin (its own access rules, pinned here so a change shows).
    "admin:login": PUBLIC,
    # (its logout: a GET shows non-staff the admin's logged-out page; a POST ends the session)
    "admin:logout": {"GET": row("ok", "ok", "ok", "ok", "ok", "405"), "POST": row("ok", "ok", "ok", "ok", "ok",
                                                                               "login")},
    "admin:index": ADMIN_PAGE,
    "admin:password_change": ADMIN_PAGE,
    "admin:password_change_done": {"GET": ADMIN_PAGE, "POST": ADMIN_WRONG_METHOD},
    "admin:jsi18n": {"GET": ADMIN_PAGE, "POST": ADMIN_WRONG_METHOD},
    "admin:autocomplete": {"GET": ADMIN_MODEL, "POST": ADMIN_WRONG_METHOD},
    "admin:app_list": ADMIN_MISSING,
    "admin:view_on_site": ADMIN_MISSING,
    "admin/(?P<url>.*)": ADMIN_MISSING,
    "admin:*_changelist": ADMIN_MODEL,
    "admin:*_add": ADMIN_MODEL,
    "admin:*_change": ADMIN_MODEL,
    "admin:*_delete": ADMIN_MODEL,
    "admin:*_history": ADMIN_MODEL,
    "admin:auth_user_password_change": ADMIN_MODEL,
    # admin/<app>/<model>/<id>/ only redirects to the change page (which answers 403 above).
    "admin/*/<path:object_id>/": ADMIN_PAGE,
}


def expected(name: str, method: str) -> dict | None:
    """The row declared for `method` on the route `name`, or None when the table has none."""
    entry = ROLE_MATRIX.get(name)
    if entry is None:
        entry = next((v for k, v in ROLE_MATRIX.items() if "*" in k and fnmatch.fnmatchcase(name, k)), None)
    if entry is None:
        return None
    if set(entry) <= {"GET", "POST", "PUT", "PATCH", "DELETE"}:
        return entry.get(method.upper())
    return entry


def outcome(response) -> str:
    """The answer's class, as the table names it (see the module docstring)."""
    code = response.status_code
    if code == 401 or (code == 302 and "login/" in response.get("Location", "")):
        return "login"
    if code in (403, 404, 405) or code >= 500:
        return str(code)
    return "ok"
