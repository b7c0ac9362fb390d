"""Backup and restore with PostgreSQL's own tools (docs/operations.md): `pg_dump -Fc` of the database,
`pg_restore` into a fresh database on another server (a private cluster), and every export of the
project is byte-identical before and after."""

import subprocess
from unittest import mock

import pytest

from annotator.services import assignment_next_for_user, judgment_submit
from scoring import services as scoring
from scoring.models import Scorer
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory, published_version
from tests.helpers import valid_input

from .conftest import app_call, app_env, suite_database_url

pytestmark = pytest.mark.faults

EXPORTS = [("judgments", "jsonl", ["--include-model-scores"]), ("trl", "jsonl", []), ("helpsteer2", "csv", []),
           ("rubric_scores", "csv", [])]


def exports(database_url: str, project_id: int, directory) -> dict:
    """Every export in EXPORTS from the database at `database_url`: {name: sha256, size, lines}."""
    directory.mkdir()
    env = app_env(redis=None, database_url=database_url)
    return app_call(env, "export_digests", project_id=project_id, specs=EXPORTS, directory=str(directory))


def make_labeled_project():
    """A project with a rubric, human judgments from three annotators and model scores."""
    project = ProjectFactory(name="Backup — ünïcödé", rubric_version=published_version(criteria=3), overlap=3)
    admin = UserFactory(username="backup-admin")
    MembershipFactory(project=project, user=admin, role="admin")
    for i in range(6):
        ItemFactory(project=project, external_id=f"item-{i}",
                    prompt=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Q{i} — «why»?"}],
                    responses=[f"Short {i} ✓", f"A longer answer {i}\nwith a second line, \"quotes\" and a tab\t."])
    for n in range(3):
        user = UserFactory(username=f"backup-ann{n}")
        MembershipFactory(project=project, user=user)
        while (assignment := assignment_next_for_user(project=project, user=user)) is not None:
            judgment_submit(assignment=assignment, data=valid_input(assignment, preference=(n + assignment.pk) % 7 - 3))
    scorer = Scorer.objects.create(name="backup-length", backend="length")
    with mock.patch("scoring.tasks.score_batch.apply_async"):
        run = scoring.scoring_run_start(project=project, scorer=scorer, actor=admin)
    for batch in run.batches.all():
        scoring.scoring_batch_execute(batch_id=batch.pk, worker="backup-test")
    return project


def test_a_dump_restored_into_a_fresh_database_gives_byte_identical_exports(private_postgres, tmp_path):
    project = make_labeled_project()
    source = suite_database_url()
    before = exports(source, project.pk, tmp_path / "before")
    assert all(e["bytes"] for e in before.values()) and before["judgments.jsonl"]["lines"] == 18

    dump = tmp_path / "rubricate.dump"
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", "--file", str(dump),
                    source.replace("postgres://", "postgresql://")], check=True, capture_output=True, timeout=120)
    private_postgres.psql('CREATE DATABASE "restored"')
    subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", "--dbname", private_postgres.url("restored"),
                    str(dump)], check=True, capture_output=True, timeout=120)

    after = exports(private_postgres.url("restored"), project.pk, tmp_path / "after")
    assert after == before  # byte-identical: same sha256 and size for every export
    for name in before:
        assert (tmp_path / "after" / name).read_bytes() == (tmp_path / "before" / name).read_bytes()
