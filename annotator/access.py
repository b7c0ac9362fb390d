"""The one place that decides who may see or change a project, a run or a rubric.

Every page, API view, task and selector that reads a project for a user goes through
`project_get_for_user`; nothing else looks up `ProjectMembership` to decide access.

The decided answers:

- Not logged in, or not a member of the project: **404** (`Http404`). Nobody learns that a
  project exists by asking for it.
- A member whose role is not among the `roles` asked for: **403** (`PermissionDenied`). A member
  already knows the project exists; a 403 tells them it is their role, not a wrong link.
- A site-admin-only action (`require_site_admin`) by anyone else: **403**.

Role sets, by one name each:

- `ROLES_ANY`: every member (annotators included), the default.
- `ROLES_STAFF`: project admins and reviewers: review, adjudication, exports, scoring runs and
  reports, agreement, every judgment, gold labels, model identities.
- `ROLES_ADMIN`: project admins: settings, members, imports, starting and cancelling runs.
"""

from __future__ import annotations

from functools import cache

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404

from config.errors import PermissionDeniedError
from config.rawrows import instances_from_row, select_list
from rubrics.models import RubricSet, RubricVersion

from .models import Project, ProjectMembership

Role = ProjectMembership.Role

ROLES_ANY: tuple[str, ...] | None = None
ROLES_STAFF: tuple[str, ...] = (Role.ADMIN, Role.REVIEWER)
ROLES_ADMIN: tuple[str, ...] = (Role.ADMIN,)

NOT_FOUND = "No such project."
WRONG_ROLE = "Your role in this project does not allow this."


def project_get_for_user(
    *, user: AbstractBaseUser, project_id: int, roles: tuple[str, ...] | None = ROLES_ANY
) -> Project:
    """The project if the user is a member with one of `roles` (any role when None).

    Outsiders get 404, members without the role 403 (see the module docstring). The membership
    is attached as `project.membership`; the pinned rubric version and its set come with it.
    """
    if not user.is_authenticated:
        raise Http404(NOT_FOUND)
    membership = _membership_with_project(user.pk, project_id)
    if membership is None:
        raise Http404(NOT_FOUND)
    if roles is not None and membership.role not in roles:
        raise PermissionDenied(WRONG_ROLE)
    project = membership.project
    project.membership = membership
    return project


# The membership, its project, the pinned rubric version and its set, in one statement written once
# (config/rawrows.py): every page and every click reads it, and the ORM took about 1.5 ms to build
# and compile it each time. PostgreSQL; elsewhere the ORM's select_related.
_MEMBERSHIP_PARTS = (ProjectMembership, Project, RubricVersion, RubricSet)


@cache
def _membership_sql() -> str:
    return f"""
        SELECT {select_list(ProjectMembership, "m")}, {select_list(Project, "p")},
               {select_list(RubricVersion, "v")}, {select_list(RubricSet, "s")}
        FROM annotator_projectmembership m
        JOIN annotator_project p ON p.id = m.project_id
        LEFT JOIN rubrics_rubricversion v ON v.id = p.rubric_version_id
        LEFT JOIN rubrics_rubricset s ON s.id = v.rubric_set_id
        WHERE m.user_id = %s AND m.project_id = %s"""  # noqa: S608 - column names from the models


def _membership_with_project(user_id: int, project_id: int) -> ProjectMembership | None:
    if connection.vendor != "postgresql":
        return (ProjectMembership.objects.select_related("project__rubric_version__rubric_set")
                .filter(user_id=user_id, project_id=project_id).first())
    with connection.cursor() as cursor:
        cursor.execute(_membership_sql(), [user_id, project_id])
        row = cursor.fetchone()
    if row is None:
        return None
    membership, project, version, rubric_set = instances_from_row(row, _MEMBERSHIP_PARTS, connection.alias)
    if version is not None:
        version.rubric_set = rubric_set
    project.rubric_version = version
    membership.project = project
    return membership


def project_ids_for_user(*, user: AbstractBaseUser, roles: tuple[str, ...] | None = ROLES_ANY) -> QuerySet:
    """Ids of the user's projects (with one of `roles` when given), as a subquery for scoping."""
    if not user.is_authenticated:
        return ProjectMembership.objects.none().values("project_id")
    qs = ProjectMembership.objects.filter(user=user)
    if roles is not None:
        qs = qs.filter(role__in=roles)
    return qs.values("project_id")


def has_role(project: Project, roles: tuple[str, ...]) -> bool:
    """Whether the membership attached by `project_get_for_user` has one of `roles`."""
    membership = getattr(project, "membership", None)
    return membership is not None and membership.role in roles


def is_site_admin(user: AbstractBaseUser | None) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_staff)


def require_site_admin(user: AbstractBaseUser | None, what: str = "do this") -> None:
    """403 unless the user is a site admin (`is_staff`); a domain error, so services may call it."""
    if not is_site_admin(user):
        raise PermissionDeniedError(f"Only site administrators {what}.")
