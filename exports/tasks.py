"""Celery tasks of the exports app. Thin: take ids, call a service (which claims the job first)."""

from celery import shared_task


# The name is the one the task had in the annotator app: messages already queued still find it.
# ignore_result: the job's state lives in PostgreSQL; it also keeps the sender off the result backend,
# whose client retries for 20 s when Redis is down before the message is even attempted.
@shared_task(name="annotator.export_job_run", queue="default", acks_late=True, bind=True, max_retries=12,
             ignore_result=True)
def export_job_run_task(self, job_id: int) -> str:
    """Write an export job's Parquet file (exports.jobs.export_job_run).

    A job another worker holds is looked at again once that worker's lease could have run out: by
    then it is done (nothing to do) or its worker died (this delivery takes it over).
    """
    from .jobs import export_job_lease_seconds, export_job_run

    outcome = export_job_run(job_id=job_id)
    if outcome == "busy":
        raise self.retry(countdown=export_job_lease_seconds())
    return outcome
