"""Writes for projects and memberships. Every write goes through a service."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from config.errors import ApplicationError

from .models import Project, ProjectMembership


@transaction.atomic
def project_create(*, name: str, created_by: AbstractBaseUser | None, **fields) -> Project:
    """Create a project; its creator becomes an admin member."""
    version = fields.get("rubric_version")
    if version is not None and version.status != "published":
        raise ApplicationError(
            "A project can only pin a published rubric version.", fields={"rubric_version": "not published"}
        )
    project = Project.objects.create(name=name, created_by=created_by, **fields)
    if created_by is not None:
        ProjectMembership.objects.create(project=project, user=created_by, role=ProjectMembership.Role.ADMIN)
    return project


def membership_set(*, project: Project, user: AbstractBaseUser, role: str) -> ProjectMembership:
    """Add the user to the project with `role`, or change their role (idempotent)."""
    if role not in ProjectMembership.Role.values:
        raise ApplicationError(f"Unknown role {role!r}.", fields={"role": "unknown role"})
    membership, _ = ProjectMembership.objects.update_or_create(
        project=project, user=user, defaults={"role": role}
    )
    return membership
