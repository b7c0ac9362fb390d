import pytest
from django.db import IntegrityError, transaction

from annotator.models import Item, Judgment
from scoring.models import ResponseScore
from tests.factories import AssignmentFactory, ItemFactory, JudgmentFactory, ScorerFactory, UserFactory


@pytest.mark.django_db
def test_a_second_judgment_of_the_same_item_by_the_same_annotator_is_rejected(project):
    item = ItemFactory(project=project)
    user = UserFactory()
    JudgmentFactory(item=item, annotator=user, preference=1)
    # Even through a second assignment row (the unique assignment key is bypassed by deleting it).
    other = AssignmentFactory(item=ItemFactory(project=project), annotator=user)
    with pytest.raises(IntegrityError), transaction.atomic():
        JudgmentFactory(assignment=other, item=item, annotator=user, preference=-1)
    assert Judgment.objects.filter(item=item).count() == 1


@pytest.mark.django_db
def test_an_item_external_id_is_unique_within_a_project(project):
    ItemFactory(project=project, external_id="x1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Item.objects.create(project=project, external_id="x1", prompt=[])
    assert Item.objects.filter(project=project, external_id="x1").count() == 1
    ItemFactory(external_id="x1")  # another project may reuse it


@pytest.mark.django_db
def test_a_preference_outside_minus_three_to_three_is_rejected(project):
    item = ItemFactory(project=project)
    user = UserFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        JudgmentFactory(item=item, annotator=user, preference=4)
    assert not Judgment.objects.exists()


@pytest.mark.django_db
def test_a_model_score_is_unique_per_response_scorer_and_input(project):
    response = ItemFactory(project=project).responses.first()
    scorer = ScorerFactory()
    ResponseScore.objects.create(response=response, scorer=scorer, input_hash="h", value=1.0)
    with pytest.raises(IntegrityError), transaction.atomic():
        ResponseScore.objects.create(response=response, scorer=scorer, input_hash="h", value=2.0)
    assert ResponseScore.objects.get(input_hash="h").value == 1.0
    ResponseScore.objects.create(response=response, scorer=scorer, input_hash="other", value=2.0)


@pytest.mark.django_db
def test_overlap_must_be_positive(project):
    project.overlap = 0
    with pytest.raises(IntegrityError), transaction.atomic():
        project.save()
    project.refresh_from_db()
    assert project.overlap == 2
