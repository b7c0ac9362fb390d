"""factory_boy factories for every model the suite needs."""

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from annotator.models import Assignment, CriterionJudgment, Item, Judgment, Project, ProjectMembership, Response
from rubrics.models import Criterion, RubricSet, RubricVersion
from scoring.models import Scorer

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password(PASSWORD)


class RubricSetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RubricSet

    name = factory.Sequence(lambda n: f"Rubric set {n}")
    slug = factory.Sequence(lambda n: f"rubric-set-{n}")


class RubricVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RubricVersion

    rubric_set = factory.SubFactory(RubricSetFactory)
    number = factory.Sequence(lambda n: n + 1)


class CriterionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Criterion

    version = factory.SubFactory(RubricVersionFactory)
    key = factory.Sequence(lambda n: f"criterion_{n}")
    title = factory.Sequence(lambda n: f"Criterion {n}")
    points = 3
    position = factory.Sequence(lambda n: n)


def published_version(*, criteria: int = 3, **kwargs) -> RubricVersion:
    """A published version with `criteria` criteria (the last one a negative-points pitfall)."""
    from rubrics.services import rubric_version_publish

    version = RubricVersionFactory(**kwargs)
    for i in range(criteria):
        CriterionFactory(
            version=version, key=f"c{i}", title=f"Criterion {i}", position=i,
            points=-2 if (i == criteria - 1 and criteria > 1) else 3,
            scale=["binary", "likert5", "points"][i % 3],
            importance="pitfall" if (i == criteria - 1 and criteria > 1) else "important",
        )
    return rubric_version_publish(version=version, actor=None)


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    overlap = 1


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProjectMembership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = ProjectMembership.Role.ANNOTATOR


class ItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Item
        skip_postgeneration_save = True

    project = factory.SubFactory(ProjectFactory)
    external_id = factory.Sequence(lambda n: f"item-{n}")
    prompt = factory.LazyFunction(lambda: [{"role": "user", "content": "Say hello."}])

    @factory.post_generation
    def responses(self, create, extracted, **kwargs):
        if not create:
            return
        contents = extracted if extracted is not None else ["Hello!", "Hi there, how can I help?"]
        for pos, content in enumerate(contents):
            Response.objects.create(item=self, external_id=f"{self.external_id}-r{pos}",
                                    model_name=f"model-{pos}", content=content, position=pos)


class AssignmentFactory(factory.django.DjangoModelFactory):
    """A live lease of an item to an annotator; `submitted=True` for one that has been judged."""

    class Meta:
        model = Assignment

    item = factory.SubFactory(ItemFactory)
    annotator = factory.SubFactory(UserFactory)
    status = Assignment.Status.LEASED
    leased_at = factory.LazyFunction(timezone.now)
    lease_expires_at = factory.LazyAttribute(lambda a: a.leased_at + timedelta(minutes=30))
    shown_order = factory.LazyAttribute(
        lambda a: list(a.item.responses.order_by("position", "id").values_list("id", flat=True)))
    submitted_at = None

    class Params:
        submitted = factory.Trait(
            status=Assignment.Status.SUBMITTED,
            submitted_at=factory.LazyAttribute(lambda a: a.leased_at + timedelta(minutes=5)),
        )


class JudgmentFactory(factory.django.DjangoModelFactory):
    """A submitted human judgment with its assignment, against the project's pinned rubric version.

    `scores` maps (response, criterion) → value and stores the criterion judgments. Afterwards the
    item's counter, open flag and disagreement are left as `judgment_submit` leaves them
    (`sync_item=False` to skip). `ranking` takes responses or their ids, best first.
    """

    class Meta:
        model = Judgment
        skip_postgeneration_save = True

    item = factory.SubFactory(ItemFactory)
    annotator = factory.SubFactory(UserFactory)
    submitted_at = factory.LazyFunction(timezone.now)
    assignment = factory.SubFactory(
        AssignmentFactory, item=factory.SelfAttribute("..item"), annotator=factory.SelfAttribute("..annotator"),
        status=Assignment.Status.SUBMITTED, submitted_at=factory.SelfAttribute("..submitted_at"),
        leased_at=factory.LazyAttribute(lambda a: a.submitted_at - timedelta(minutes=5)),
    )
    rubric_version = factory.LazyAttribute(lambda j: j.item.project.rubric_version)
    both_bad = False
    ranking = factory.LazyFunction(list)
    preference = factory.LazyAttribute(lambda j: None if (j.both_bad or j.ranking) else -1)
    rationale = ""
    time_spent_ms = 30000

    @classmethod
    def _adjust_kwargs(cls, **kwargs):
        kwargs["ranking"] = [getattr(r, "pk", r) for r in kwargs["ranking"]]
        return kwargs

    @factory.post_generation
    def scores(self, create, extracted, **kwargs):
        if create and extracted:
            CriterionJudgment.objects.bulk_create(
                CriterionJudgment(judgment=self, response=response, criterion=criterion, value=value)
                for (response, criterion), value in extracted.items()
            )

    @factory.post_generation
    def sync_item(self, create, extracted, **kwargs):
        if not create or extracted is False:
            return
        from annotator.services import item_disagreement

        item = Item.objects.select_related("project").get(pk=self.item_id)
        item.submitted_count = item.judgments.count()
        item.is_open = item.submitted_count < item.project.overlap
        item.disagreement = item_disagreement(item=item) if item.submitted_count >= 2 else []
        item.has_disagreement = bool(item.disagreement)
        item.save(update_fields=["submitted_count", "is_open", "disagreement", "has_disagreement", "updated_at"])


class ScorerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Scorer

    name = factory.Sequence(lambda n: f"scorer-{n}")
    backend = Scorer.Backend.LENGTH
