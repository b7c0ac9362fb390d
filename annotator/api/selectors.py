"""Reads behind the export job endpoints (the other API reads are in annotator/selectors.py)."""

from __future__ import annotations

from annotator.models import ExportJob, Project


def export_job_list(*, project: Project, limit: int = 50) -> list[ExportJob]:
    return list(ExportJob.objects.filter(project=project).select_related("requested_by")
                .order_by("-created_at", "-id")[:limit])


def export_job_get(*, project: Project, job_id: int) -> ExportJob:
    from django.http import Http404

    job = ExportJob.objects.filter(project=project, pk=job_id).select_related("requested_by").first()
    if job is None:
        raise Http404("No such export job.")
    return job
