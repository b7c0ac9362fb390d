"""Reads behind the export page and API, always scoped to one project."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from annotator.models import Judgment, Project
from rubrics.models import RubricVersion

from .models import ExportJob


def export_job_list(*, project: Project, limit: int = 50) -> list[ExportJob]:
    """The project's newest export jobs, newest first."""
    return list(ExportJob.objects.filter(project=project).select_related("requested_by")
                .order_by("-created_at", "-id")[:limit])


def export_job_get(*, project: Project, job_id: int) -> ExportJob:
    """One of the project's export jobs; 404 for any other id."""
    job = ExportJob.objects.filter(project=project, pk=job_id).select_related("requested_by").first()
    if job is None:
        raise Http404("No such export job.")
    job.project = project
    return job


def export_rubric_versions(*, project: Project) -> QuerySet[RubricVersion]:
    """The rubric versions an export can filter by: the pinned one and those the judgments used."""
    used = Judgment.objects.filter(rubric_version=OuterRef("pk"), item__project=project)
    return (RubricVersion.objects.filter(Q(pk=project.rubric_version_id) | Q(Exists(used)))
            .select_related("rubric_set").order_by("rubric_set__name", "-number"))
