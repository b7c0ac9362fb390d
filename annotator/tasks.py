"""Celery tasks of the annotator app. Thin: take ids, call a service (which is idempotent)."""

from celery import shared_task


@shared_task(name="annotator.export_job_run", queue="default", acks_late=True)
def export_job_run_task(job_id: int) -> None:
    """Write an export job's Parquet file (annotator.exports.export_job_run)."""
    from .exports import export_job_run

    export_job_run(job_id=job_id)
