from io import StringIO

import pytest
from django.core.management import call_command

from annotator.models import Item, Project, Response
from rubrics.models import RubricVersion


@pytest.mark.django_db
def test_load_demo_is_idempotent_and_adds_superusers():
    call_command("createadmin", stdout=StringIO())
    call_command("load_demo", "--superusers", stdout=StringIO())
    call_command("load_demo", "--superusers", stdout=StringIO())
    project = Project.objects.get()
    assert project.items.count() == 20
    assert Item.objects.filter(project=project, prompt__len__gt=1).exists() or any(
        len(i.prompt) > 1 for i in project.items.all())
    assert Response.objects.filter(item__project=project).count() == 40
    version = project.rubric_version
    assert version.status == RubricVersion.Status.PUBLISHED
    assert 5 <= version.criteria.count() <= 8
    assert version.criteria.filter(points__lt=0).exists()
    assert {"hard_rule", "principle"} <= set(version.criteria.values_list("kind", flat=True))
    assert project.memberships.get(user__username="admin").role == "admin"
