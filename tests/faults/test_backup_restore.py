"""Backup and restore with PostgreSQL's own tools (docs/operations.md): `pg_dump -Fc` of the database,
`pg_restore` into a fresh database on another server (a private cluster), and every export of the
project is byte-identical before and after."""

import subprocess
import sys
from unittest import mock

import pytest

from annotator.services import assignment_next_for_user, judgment_submit
from scoring import services as scoring
from scoring.models import Scorer
from tests.annotator.conftest import valid_input
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory, published_version

from .conftest import ROOT, suite_database_url

pytestmark = pytest.mark.faults

EXPORTS = [("judgments", "jsonl", ["--include-model-scores"]), ("trl", "jsonl", []), ("helpsteer2", "csv", []),
           ("rubric_scores", "csv", [])]


def export(database_url: str, project_id: int, fmt: str, as_: str, extra: list[str]) -> bytes:
    env = {"DJANGO_SETTINGS_MODULE": "config.test_settings", "DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "manage.py", "export", str(project_id), "--format", fmt, "--as", as_,
                           *extra], cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


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
    before = {spec[:2]: export(source, project.pk, *spec) for spec in EXPORTS}
    assert all(before.values()) and before[("judgments", "jsonl")].count(b"\n") == 18

    dump = tmp_path / "rubricate.dump"
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", "--file", str(dump), source.replace("postgres://",
                    "postgresql://")], check=True, capture_output=True, timeout=120)
    private_postgres.psql('CREATE DATABASE "restored"')
    subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", "--dbname", private_postgres.url("restored"),
                    str(dump)], check=True, capture_output=True, timeout=120)

    after = {spec[:2]: export(private_postgres.url("restored"), project.pk, *spec) for spec in EXPORTS}
    for key in before:
        assert after[key] == before[key], f"{key} differs after restore"
