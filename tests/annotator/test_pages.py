import pytest
from django.urls import NoReverseMatch, reverse

from tests.factories import ItemFactory, MembershipFactory, ProjectFactory


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_the_login_page(client, project):
    for url in ["/", f"/projects/{project.id}/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_there_is_no_open_sign_up(client):
    for name in ["signup", "register", "django_registration_register"]:
        with pytest.raises(NoReverseMatch):
            reverse(name)
    assert client.get("/signup/").status_code == 404
    assert client.get("/accounts/signup/").status_code == 404
    assert b"sign-up" in client.get("/login/").content


@pytest.mark.django_db
def test_logging_in_with_the_right_password_shows_my_projects(client, annotator, password, project):
    response = client.post("/login/", {"username": "annotator", "password": password})
    assert response.status_code == 302
    page = client.get("/")
    assert project.name in page.content.decode()


@pytest.mark.django_db
def test_a_wrong_password_is_refused(client, annotator):
    response = client.post("/login/", {"username": "annotator", "password": "wrong-password-here"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_the_home_page_lists_only_projects_i_belong_to(client_for, annotator, outsider, project):
    ItemFactory.create_batch(3, project=project)
    body = client_for(annotator).get("/").content.decode()
    assert project.name in body
    assert "Someone else&#x27;s project" not in body and "Someone else's project" not in body
    body = client_for(outsider).get("/").content.decode()
    assert project.name not in body


@pytest.mark.django_db
def test_an_outsider_gets_404_for_another_projects_page(client_for, outsider, project):
    assert client_for(outsider).get(f"/projects/{project.id}/").status_code == 404


@pytest.mark.django_db
def test_a_member_sees_the_project_page_with_progress(client_for, annotator, project):
    ItemFactory.create_batch(2, project=project)
    response = client_for(annotator).get(f"/projects/{project.id}/")
    assert response.status_code == 200
    assert response.context["progress"]["items"] == 2
    assert response.context["progress"]["needed"] == 4


@pytest.mark.django_db
def test_pages_carry_the_csrf_token_in_hx_headers(client_for, annotator):
    body = client_for(annotator).get("/").content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in body
    assert "/static/vendor/htmx-2.0.11.min.js" in body
    assert "unpkg" not in body and "jsdelivr" not in body


@pytest.mark.django_db
def test_the_home_page_makes_a_fixed_number_of_queries(client_for, annotator, django_assert_max_num_queries):
    for _ in range(5):
        p = ProjectFactory()
        MembershipFactory(project=p, user=annotator)
        ItemFactory.create_batch(2, project=p)
    c = client_for(annotator)
    with django_assert_max_num_queries(6):
        c.get("/")


@pytest.mark.django_db
def test_the_api_lists_only_my_projects(client_for, annotator, outsider, project):
    data = client_for(outsider).get("/api/v1/projects/").json()
    assert project.id not in [p["id"] for p in data]
    assert client_for(outsider).get(f"/api/v1/projects/{project.id}/").status_code == 404
    assert client_for(annotator).get(f"/api/v1/projects/{project.id}/").json()["role"] == "annotator"


@pytest.mark.django_db
def test_api_404s_name_their_error_code(client_for, outsider, project):
    body = client_for(outsider).get(f"/api/v1/projects/{project.id}/").json()
    assert body["error"] == "not_found"
    assert body["message"]
