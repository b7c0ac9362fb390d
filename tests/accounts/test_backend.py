"""accounts.backends.UserBackend: the logged-in user read by one statement written once."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext

from accounts.backends import UserBackend

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_the_user_is_the_one_the_orm_reads_in_one_statement(annotator):
    with CaptureQueriesContext(connection) as ctx:
        user = UserBackend().get_user(str(annotator.pk))  # the session keeps the id as text
    assert len(ctx.captured_queries) == 1
    orm = User.objects.get(pk=annotator.pk)
    assert type(user) is User and user.pk == orm.pk and not user._state.adding
    assert model_to_dict(user) == model_to_dict(orm) and user.password == orm.password
    assert user.last_login == orm.last_login and user.date_joined == orm.date_joined


@pytest.mark.parametrize("user_id", ["999999999", "not-a-number", ""])
def test_no_user_for_an_unknown_or_malformed_id(user_id):
    assert UserBackend().get_user(user_id) is None


def test_a_deactivated_user_is_nobody(annotator):
    User.objects.filter(pk=annotator.pk).update(is_active=False)
    assert UserBackend().get_user(annotator.pk) is None


def test_a_password_change_ends_the_sessions_opened_before(client_for, annotator):
    c = client_for(annotator)
    assert c.get("/").status_code == 200
    annotator.set_password("another-long-password-1")
    annotator.save()
    assert c.get("/").status_code == 302  # to the login page: the session's hash no longer matches
