"""Publishing a rubric version offers to move the projects pinned to an older version of the set;
moving goes through project_update; existing judgments keep their version, new ones use the new one."""

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from annotator.models import Judgment, ProjectMembership
from annotator.selectors import rubric_switch_candidates, rubric_version_newer
from annotator.services import assignment_next_for_user, judgment_submit, projects_rubric_version_switch
from config.errors import ApplicationError, ConflictError
from rubrics import services as rubric_services
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, published_version
from tests.helpers import valid_input

pytestmark = pytest.mark.django_db
Role = ProjectMembership.Role
HX = {"HTTP_HX_REQUEST": "true"}


def _judge(project, user):
    a = assignment_next_for_user(project=project, user=user)
    return judgment_submit(assignment=a, data=valid_input(a)).judgment


@pytest.fixture
def v2(rubric_version, staff_admin):
    draft = rubric_services.rubric_draft_create(rubric_set=rubric_version.rubric_set, actor=staff_admin,
                                                from_version=rubric_version)
    return rubric_services.rubric_version_publish(version=draft, actor=staff_admin)


def test_moving_keeps_old_judgments_on_their_version_and_new_ones_use_the_new(project, project_admin, annotator,
                                                                              make_items, rubric_version, v2):
    make_items(2)
    before = _judge(project, annotator)
    (moved,) = projects_rubric_version_switch(user=project_admin, version=v2, project_ids=[project.id])
    assert moved.rubric_version == v2
    project.refresh_from_db()
    assert project.rubric_version_id == v2.id
    assert Judgment.objects.get(pk=before.pk).rubric_version_id == rubric_version.id
    reviewer = UserFactory(username="second")
    MembershipFactory(project=project, user=reviewer)
    after = _judge(project, reviewer)
    assert after.rubric_version_id == v2.id


def test_an_answer_entered_against_the_old_criteria_is_refused_after_the_move(project, project_admin, annotator,
                                                                              make_items, v2):
    make_items(1)
    a = assignment_next_for_user(project=project, user=annotator)
    old_answer = valid_input(a)  # scores for v1's criteria
    projects_rubric_version_switch(user=project_admin, version=v2, project_ids=[project.id])
    with pytest.raises(ApplicationError, match="not a criterion of this item's rubric|required"):
        judgment_submit(assignment=a, data=old_answer)
    assert not Judgment.objects.exists()


def test_the_candidates_are_my_admin_projects_on_an_older_version_with_their_judgment_counts(
        project, project_admin, annotator, make_items, v2, rubric_version):
    make_items(1)
    _judge(project, annotator)
    other_set = ProjectFactory(name="Another rubric", rubric_version=published_version(criteria=1))
    MembershipFactory(project=other_set, user=project_admin, role=Role.ADMIN)
    not_mine = ProjectFactory(name="Not administered", rubric_version=rubric_version)
    MembershipFactory(project=not_mine, user=project_admin, role=Role.REVIEWER)
    (candidate,) = rubric_switch_candidates(user=project_admin, version=v2)
    assert candidate.id == project.id and candidate.judgments_on_pinned == 1
    assert rubric_switch_candidates(user=annotator, version=v2) == []
    assert rubric_switch_candidates(user=project_admin, version=rubric_version) == []  # nothing older than v1


def test_only_admins_of_the_project_move_it(project, annotator, outsider, v2, rubric_version):
    with pytest.raises(PermissionDenied):
        projects_rubric_version_switch(user=annotator, version=v2, project_ids=[project.id])
    with pytest.raises(Http404):
        projects_rubric_version_switch(user=outsider, version=v2, project_ids=[project.id])
    project.refresh_from_db()
    assert project.rubric_version_id == rubric_version.id


def test_a_project_on_another_set_or_a_newer_version_is_not_moved_here(project, project_admin, v2, staff_admin):
    projects_rubric_version_switch(user=project_admin, version=v2, project_ids=[project.id])
    with pytest.raises(ConflictError, match="older version"):
        projects_rubric_version_switch(user=project_admin, version=v2, project_ids=[project.id])
    with pytest.raises(ApplicationError, match="at least one"):
        projects_rubric_version_switch(user=project_admin, version=v2, project_ids=[])


def test_all_or_nothing(project, project_admin, v2, rubric_version):
    second = ProjectFactory(name="Second", rubric_version=rubric_version)
    MembershipFactory(project=second, user=project_admin, role=Role.ADMIN)
    elsewhere = ProjectFactory(name="Elsewhere", rubric_version=rubric_version)
    with pytest.raises(Http404):
        projects_rubric_version_switch(user=project_admin, version=v2, project_ids=[project.id, second.id,
                                                                                   elsewhere.id])
    project.refresh_from_db()
    second.refresh_from_db()
    assert project.rubric_version_id == second.rubric_version_id == rubric_version.id


# --- pages --------------------------------------------------------------------------------------


def test_publishing_offers_the_move_when_my_projects_use_an_older_version(client_for, project, rubric_version,
                                                                         staff_admin):
    MembershipFactory(project=project, user=staff_admin, role=Role.ADMIN)
    draft = rubric_services.rubric_draft_create(rubric_set=rubric_version.rubric_set, actor=staff_admin,
                                                from_version=rubric_version)
    c = client_for(staff_admin)
    slug = rubric_version.rubric_set.slug
    response = c.post(f"/rubrics/{slug}/v/{draft.number}/publish/", **HX)
    assert response.status_code == 204
    assert response["HX-Redirect"] == f"/projects/rubric/{slug}/v/{draft.number}/move/"
    page = c.get(response["HX-Redirect"]).content.decode()
    assert "Judgments already made keep the version they were made with" in page
    assert f'name="project" value="{project.id}" checked' in page
    project.refresh_from_db()
    assert project.rubric_version_id == rubric_version.id  # nothing moved yet
    done = c.post(response["HX-Redirect"], {"project": [str(project.id)]})
    assert done.status_code == 302 and done["Location"] == f"/projects/{project.id}/"
    project.refresh_from_db()
    assert project.rubric_version_id == draft.id


def test_publishing_with_no_project_on_an_older_version_goes_to_the_set(client_for, rubric_version, staff_admin):
    draft = rubric_services.rubric_draft_create(rubric_set=rubric_version.rubric_set, actor=staff_admin,
                                                from_version=rubric_version)
    response = client_for(staff_admin).post(f"/rubrics/{rubric_version.rubric_set.slug}/v/{draft.number}/publish/",
                                            **HX)
    assert response["HX-Redirect"] == f"/rubrics/{rubric_version.rubric_set.slug}/"


def test_the_project_page_tells_its_admins_about_a_newer_version(client_for, project, project_admin, annotator, v2):
    body = client_for(project_admin).get(f"/projects/{project.id}/").content.decode()
    assert 'id="rubric-newer"' in body and f"/move/?project={project.id}" in body
    assert 'id="rubric-newer"' not in client_for(annotator).get(f"/projects/{project.id}/").content.decode()
    assert rubric_version_newer(project=project) == v2


def test_a_project_admin_who_is_not_a_site_admin_can_move_their_project(client_for, project, project_admin, v2):
    url = f"/projects/rubric/{v2.rubric_set.slug}/v/{v2.number}/move/"
    page = client_for(project_admin).get(f"{url}?project={project.id}")
    assert page.status_code == 200 and "what changed" not in page.content.decode()  # cannot read v2's diff yet
    client_for(project_admin).post(url, {"project": [str(project.id)]})
    project.refresh_from_db()
    assert project.rubric_version_id == v2.id


def test_the_move_page_is_404_for_people_with_nothing_to_move(client_for, project, annotator, outsider, v2):
    url = f"/projects/rubric/{v2.rubric_set.slug}/v/{v2.number}/move/"
    assert client_for(annotator).get(url).status_code == 404
    assert client_for(outsider).get(url).status_code == 404
    assert client_for(outsider).post(url, {"project": [str(project.id)]}).status_code == 404


def test_choosing_no_project_says_so(client_for, project, project_admin, v2):
    url = f"/projects/rubric/{v2.rubric_set.slug}/v/{v2.number}/move/"
    response = client_for(project_admin).post(url, {})
    assert response.status_code == 400 and "Choose at least one project" in response.content.decode()


def test_the_published_version_page_links_to_the_move(client_for, project, staff_admin, v2):
    MembershipFactory(project=project, user=staff_admin, role=Role.ADMIN)
    body = client_for(staff_admin).get(f"/rubrics/{v2.rubric_set.slug}/v/{v2.number}/").content.decode()
    assert 'id="move-projects"' in body and "Move 1 project to v" in body
