import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.test import RequestFactory


@pytest.mark.django_db
def test_createadmin_prints_a_generated_password_that_works():
    out = StringIO()
    call_command("createadmin", stdout=out)
    password = re.search(r"password: (\S+)", out.getvalue()).group(1)
    assert len(password) >= 16
    user = authenticate(RequestFactory().post("/login/"), username="admin", password=password)
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
