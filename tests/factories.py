"""factory_boy factories for every model the suite needs."""

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from annotator.models import Item, Project, ProjectMembership, Response
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


class ScorerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Scorer

    name = factory.Sequence(lambda n: f"scorer-{n}")
    backend = Scorer.Backend.LENGTH


def now():
    return timezone.now()
