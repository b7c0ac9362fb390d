"""The web side of the fault tests, run in its own process: `python -m tests.faults.app_side NAME JSON`.

Each function prints one JSON line. The process gets its database and broker from the environment
(tests/faults/conftest.py `app_env`), as the web server would.
"""

import json
import sys
import time


def start_run(*, project_id: int, scorer_id: int, actor_id: int) -> dict:
    from django.contrib.auth import get_user_model

    from annotator.models import Project
    from scoring import services
    from scoring.models import Scorer

    actor = get_user_model().objects.get(pk=actor_id)
    began = time.monotonic()
    run = services.scoring_run_start(project=Project.objects.get(pk=project_id),
                                     scorer=Scorer.objects.get(pk=scorer_id), actor=actor)
    return {"run": run.pk, "status": run.status, "seconds": round(time.monotonic() - began, 3),
            "unsent": run.batches.filter(sent_at__isnull=True).count(), "batches": run.batches.count()}


def seed_annotation(*, items: int, overlap: int, annotators: int, password: str) -> dict:
    """A preference-only project (two responses per item) and its annotators, with real passwords."""
    from django.contrib.auth import get_user_model

    from annotator.models import Item, Project, ProjectMembership, Response

    User = get_user_model()
    project = Project.objects.create(name="outage", overlap=overlap, randomize_order=True)
    rows = Item.objects.bulk_create([
        Item(project=project, external_id=f"i{i}", prompt=[{"role": "user", "content": f"Question {i}?"}])
        for i in range(items)
    ])
    Response.objects.bulk_create([Response(item=item, external_id=f"r{p}", position=p, content=f"Answer {p}.")
                                  for item in rows for p in range(2)])
    names = []
    for n in range(annotators):
        user = User.objects.create_user(username=f"ann{n}", password=password)
        ProjectMembership.objects.create(project=project, user=user, role="annotator")
        names.append(user.username)
    return {"project": project.pk, "annotators": names}


def request_export(*, project_id: int, user_id: int, export_format: str) -> dict:
    from django.contrib.auth import get_user_model

    from annotator.models import Project
    from exports.jobs import export_job_request
    from exports.params import export_params_parse

    project = Project.objects.get(pk=project_id)
    began = time.monotonic()
    job, created = export_job_request(project=project, user=get_user_model().objects.get(pk=user_id),
                                      params=export_params_parse({"format": export_format}, project=project))
    return {"job": job.pk, "created": created, "status": job.status, "seconds": round(time.monotonic() - began, 3)}


def export_digests(*, project_id: int, specs: list, directory: str) -> dict:
    """sha256 and size of `manage.py export` for each (format, as, extra args), in one process."""
    import hashlib
    import io
    from pathlib import Path

    from django.core.management import call_command

    out = {}
    for fmt, as_, extra in specs:
        path = Path(directory) / f"{fmt}.{as_}"
        call_command("export", str(project_id), "--format", fmt, "--as", as_, "--output", str(path), *extra,
                     stdout=io.StringIO(), stderr=io.StringIO())
        data = path.read_bytes()
        out[path.name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "lines": data.count(b"\n")}
    return out


def main() -> None:
    import django

    django.setup()
    name, kwargs = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(globals()[name](**kwargs)))


if __name__ == "__main__":
    main()
