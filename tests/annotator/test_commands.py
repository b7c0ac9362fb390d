import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command

from annotator.models import Item, Project, Response
from rubrics.models import RubricVersion


@pytest.mark.django_db
def test_createadmin_prints_a_generated_password_that_works():
    out = StringIO()
    call_command("createadmin", stdout=out)
    password = re.search(r"password: (\S+)", out.getvalue()).group(1)
    assert len(password) >= 16
    user = authenticate(username="admin", password=password)
    assert user is not None and user.is_superuser


@pytest.mark.django_db
def test_createadmin_never_silently_reuses_an_existing_account():
    call_command("createadmin", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("createadmin", stdout=StringIO())
    out = StringIO()
    call_command("createadmin", "--if-none", stdout=out)
    assert "password" not in out.getvalue()
    assert get_user_model().objects.count() == 1


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
