"""Reads of the Insights app that the pages and the API share. A page reads the snapshot's
status columns and its own section only (the sections of a big project are tens of kilobytes
each; nothing is computed here)."""

from __future__ import annotations

from annotator.models import Project
from config.errors import NotFoundError

from .models import InsightsSnapshot
from .tables import TABLES, Table

STATUS_FIELDS = (
    "id",
    "project_id",
    "status",
    "stage",
    "progress",
    "lease_expires_at",
    "error",
    "requested_at",
    "started_at",
    "computed_at",
    "compute_seconds",
    "judgments",
    "summary",
)


def snapshot_get(*, project: Project, sections: tuple[str, ...] = ()) -> InsightsSnapshot:
    """The project's snapshot with its status and the given sections (an unsaved empty one when the
    project's Insights were never computed)."""
    snapshot = InsightsSnapshot.objects.filter(project=project).only(*STATUS_FIELDS, *sections).first()
    if snapshot is None:
        snapshot = InsightsSnapshot(project=project)
    return snapshot


def insights_table(*, project: Project, slug: str) -> tuple[Table, list[dict], InsightsSnapshot]:
    """One table's rows from the stored snapshot; NotFoundError for an unknown table."""
    table = TABLES.get(slug)
    if table is None:
        raise NotFoundError(f"No Insights table {slug!r}; the tables are: {', '.join(TABLES)}.")
    snapshot = snapshot_get(project=project, sections=(table.section,))
    return table, table.rows(getattr(snapshot, table.section) or {}), snapshot
