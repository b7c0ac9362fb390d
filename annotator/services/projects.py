"""Writes for projects and their members (and invitations into a project)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accounts.services import InviteLink, user_invite
from config.errors import ApplicationError, ConflictError, NotFoundError

from ..models import Assignment, Item, Project, ProjectMembership

Status = Assignment.Status
Role = ProjectMembership.Role
PROJECT_FIELDS = {
    "name", "description", "rubric_version", "overlap", "guidelines", "rationale_required", "randomize_order",
    "hide_model_identities", "show_model_scores", "queue_order", "lease_minutes",
}


def _check_rubric_version(version) -> None:
    if version is not None and version.status != "published":
        raise ApplicationError(
            "A project can only pin a published rubric version (not a draft or an archived one).",
            fields={"rubric_version": "not published"},
        )


@transaction.atomic
def project_create(*, name: str, created_by: AbstractBaseUser | None, **fields) -> Project:
    """Create a project; its creator becomes an admin member."""
    unknown = set(fields) - PROJECT_FIELDS
    if unknown:
        raise ApplicationError(f"Unknown project fields: {', '.join(sorted(unknown))}.")
    _check_rubric_version(fields.get("rubric_version"))
    project = Project.objects.create(name=name, created_by=created_by, **fields)
    if created_by is not None:
        ProjectMembership.objects.create(project=project, user=created_by, role=Role.ADMIN)
    return project


@transaction.atomic
def project_update(*, project: Project, **fields) -> Project:
    """Change a project's settings. A new overlap re-opens or closes items at once (the queue reads
    `Item.is_open`); a new rubric version applies to judgments submitted from now on."""
    unknown = set(fields) - PROJECT_FIELDS
    if unknown:
        raise ApplicationError(f"Unknown project fields: {', '.join(sorted(unknown))}.")
    if "rubric_version" in fields and fields["rubric_version"] != project.rubric_version:
        _check_rubric_version(fields["rubric_version"])
    locked = Project.objects.select_for_update().get(pk=project.pk)
    old_overlap = locked.overlap
    for key, value in fields.items():
        setattr(locked, key, value)
    locked.full_clean(exclude=["created_by", "rubric_version"])
    locked.save()
    if locked.overlap != old_overlap:
        Item.objects.filter(project=locked, is_open=True, submitted_count__gte=locked.overlap).update(is_open=False)
        Item.objects.filter(project=locked, is_open=False, submitted_count__lt=locked.overlap).update(is_open=True)
    for key in fields:
        setattr(project, key, getattr(locked, key))
    project.updated_at = locked.updated_at
    return locked


def _admin_count(project: Project) -> int:
    return ProjectMembership.objects.filter(project=project, role=Role.ADMIN).count()


@transaction.atomic
def membership_set(*, project: Project, user: AbstractBaseUser, role: str) -> ProjectMembership:
    """Add the user to the project with `role`, or change their role (idempotent).
    The last admin of a project cannot be demoted."""
    if role not in Role.values:
        raise ApplicationError(f"Unknown role {role!r}.", fields={"role": "unknown role"})
    Project.objects.select_for_update().filter(pk=project.pk).first()
    current = ProjectMembership.objects.filter(project=project, user=user).first()
    if current is not None and current.role == Role.ADMIN and role != Role.ADMIN and _admin_count(project) == 1:
        raise ConflictError("A project needs at least one admin; make someone else admin first.",
                            fields={"role": "last admin"})
    membership, _ = ProjectMembership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership


@transaction.atomic
def membership_remove(*, project: Project, user: AbstractBaseUser) -> None:
    """Take the user off the project. Their judgments stay (they are data); open leases are released."""
    Project.objects.select_for_update().filter(pk=project.pk).first()
    current = ProjectMembership.objects.filter(project=project, user=user).first()
    if current is None:
        raise NotFoundError("Not a member of this project.")
    if current.role == Role.ADMIN and _admin_count(project) == 1:
        raise ConflictError("A project needs at least one admin; make someone else admin first.")
    current.delete()
    Assignment.objects.filter(item__project=project, annotator=user, status=Status.LEASED).update(
        status=Status.EXPIRED, lease_expires_at=timezone.now())


@transaction.atomic
def member_invite(*, project: Project, username: str, email: str = "", role: str,
                  actor: AbstractBaseUser | None, landing_url: str = "") -> InviteLink:
    """Invite someone new into the project: an inactive account with a one-time set-password
    link (accounts.services.user_invite) and a membership with `role`, all or nothing. Once the
    password is set they land at `landing_url` (the project page)."""
    if role not in Role.values:
        raise ApplicationError(f"Unknown role {role!r}.", fields={"role": "unknown role"})
    link = user_invite(username=username, email=email, actor=actor, landing_url=landing_url)
    membership_set(project=project, user=link.invite.user, role=role)
    return link


@transaction.atomic
def projects_rubric_version_switch(*, user: AbstractBaseUser, version, project_ids: list[int]) -> list[Project]:
    """Move projects the user administers from an older version of a rubric set to `version`
    (published, same set, newer), each through project_update, all or nothing.

    Judgments already made keep the version they were made with (Judgment.rubric_version); the
    ones submitted from now on use `version`. An answer entered against the old criteria and
    submitted after the move is refused as incomplete, never stored under the new version.
    """
    from ..access import ROLES_ADMIN, project_get_for_user

    if version is None or version.status != "published":
        raise ApplicationError("Projects can only move to a published rubric version.",
                               fields={"rubric_version": "not published"})
    if not project_ids:
        raise ApplicationError("Choose at least one project to move.", fields={"projects": "none chosen"})
    moved = []
    for project_id in sorted(set(project_ids)):
        project = project_get_for_user(user=user, project_id=project_id, roles=ROLES_ADMIN)
        pinned = project.rubric_version
        if pinned is None or pinned.rubric_set_id != version.rubric_set_id or pinned.number >= version.number:
            raise ConflictError(
                f"“{project.name}” does not pin an older version of {version.rubric_set.name}: "
                "change its rubric in the project's settings instead.", fields={"projects": str(project_id)})
        moved.append(project_update(project=project, rubric_version=version))
    return moved
