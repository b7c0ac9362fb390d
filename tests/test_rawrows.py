"""config/rawrows.py: the hand-written per-click statements give the same instances as the ORM."""

import pytest
from django.forms.models import model_to_dict

from annotator.access import project_get_for_user
from annotator.models import ProjectMembership
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, published_version


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


@pytest.mark.django_db
@pytest.mark.parametrize("with_rubric", [True, False])
def test_the_membership_read_by_hand_equals_the_orms_select_related(with_rubric):
    project = ProjectFactory(rubric_version=published_version() if with_rubric else None)
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=ProjectMembership.Role.REVIEWER)
    orm = ProjectMembership.objects.select_related("project__rubric_version__rubric_set").get(user=user)

    got = project_get_for_user(user=user, project_id=project.id)

    assert _fields(got.membership) == _fields(orm) and _fields(got) == _fields(orm.project)
    assert not got._state.adding and got._state.db == "default"
    if with_rubric:
        version = got._state.fields_cache["rubric_version"]
        assert _fields(version) == _fields(orm.project.rubric_version)
        assert _fields(version._state.fields_cache["rubric_set"]) == _fields(orm.project.rubric_version.rubric_set)
        assert model_to_dict(version) == model_to_dict(orm.project.rubric_version)
    else:
        assert got._state.fields_cache["rubric_version"] is None
