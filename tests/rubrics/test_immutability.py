import pytest
from django.db import IntegrityError, connection, transaction

from rubrics.models import Criterion, RubricVersion
from tests.factories import CriterionFactory, RubricVersionFactory
from tests.helpers import row


def _sql(statement, params=()):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.mark.django_db
def test_database_is_postgresql():
    # Triggers and constraints are tested where production runs them.
    assert connection.vendor == "postgresql"


@pytest.mark.django_db
def test_raw_sql_update_of_a_published_version_is_rejected(rubric_version):
    with pytest.raises(IntegrityError, match="cannot be changed"):
        _sql("UPDATE rubrics_rubricversion SET notes = 'sneaky' WHERE id = %s", [rubric_version.id])
    rubric_version.refresh_from_db()
    assert rubric_version.notes == ""


@pytest.mark.django_db
def test_raw_sql_delete_of_a_published_version_is_rejected(rubric_version):
    with pytest.raises(IntegrityError, match="frozen"):
        _sql("DELETE FROM rubrics_criterion WHERE version_id = %s", [rubric_version.id])
    with pytest.raises(IntegrityError, match="cannot be deleted"):
        _sql("DELETE FROM rubrics_rubricversion WHERE id = %s", [rubric_version.id])
    assert RubricVersion.objects.filter(pk=rubric_version.pk).exists() and rubric_version.criteria.count() == 3


@pytest.mark.django_db
def test_raw_sql_update_of_a_published_criterion_is_rejected(rubric_version):
    criterion = rubric_version.criteria.first()
    before = row(criterion)
    with pytest.raises(IntegrityError, match="frozen"):
        _sql("UPDATE rubrics_criterion SET points = 100 WHERE id = %s", [criterion.id])
    assert row(criterion) == before


@pytest.mark.django_db
def test_a_criterion_cannot_be_added_to_a_published_version(rubric_version):
    with pytest.raises(IntegrityError, match="frozen"), transaction.atomic():
        Criterion.objects.create(version=rubric_version, key="late", title="Late addition")
    assert not rubric_version.criteria.filter(key="late").exists()


@pytest.mark.django_db
def test_orm_save_of_a_published_version_is_rejected(rubric_version):
    before = row(rubric_version)
    rubric_version.notes = "changed"
    with pytest.raises(IntegrityError), transaction.atomic():
        rubric_version.save()
    assert row(rubric_version) == before


@pytest.mark.django_db
def test_a_published_version_can_be_archived_and_unarchived(rubric_version):
    RubricVersion.objects.filter(pk=rubric_version.pk).update(status="archived")
    RubricVersion.objects.filter(pk=rubric_version.pk).update(status="published")
    with pytest.raises(IntegrityError), transaction.atomic():
        RubricVersion.objects.filter(pk=rubric_version.pk).update(status="draft")
    assert RubricVersion.objects.get(pk=rubric_version.pk).status == "published"


@pytest.mark.django_db
def test_drafts_stay_editable():
    draft = RubricVersionFactory()
    criterion = CriterionFactory(version=draft)
    _sql("UPDATE rubrics_criterion SET points = 7 WHERE id = %s", [criterion.id])
    _sql("UPDATE rubrics_rubricversion SET notes = 'ok' WHERE id = %s", [draft.id])
    criterion.refresh_from_db()
    assert criterion.points == 7
    draft.delete()
