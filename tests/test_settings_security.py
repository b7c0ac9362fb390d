import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(args, **env):
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "HTTPS", "DATABASE_URL",
                                                         "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=120)


def test_production_settings_refuse_to_start_without_secret_key():
    result = _run(["-c", "import django; django.setup()"], DJANGO_SETTINGS_MODULE="config.settings")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_check_deploy_reports_no_issues_with_production_settings(tmp_path):
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY="k7Jq2pX9-vR4mWs8tY1zL6nB3cF0hD5gA2eU7iO9pQ4rT8yW1xZ",
        ALLOWED_HOSTS="rubricate.example.org", RUBRICATE_VAR_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_makemigrations_finds_nothing_to_do():
    result = _run(["manage.py", "makemigrations", "--check", "--dry-run"],
                  DJANGO_SETTINGS_MODULE="config.test_settings")
    assert result.returncode == 0, result.stdout + result.stderr


def test_debug_is_off_and_cookies_are_secure_unless_set(tmp_path):
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.CELERY_BROKER_URL)")
    result = _run(["-c", code], DJANGO_SETTINGS_MODULE="config.settings", SECRET_KEY="x" * 50,
                  RUBRICATE_VAR_DIR=str(tmp_path), REDIS_URL="", CELERY_BROKER_URL="")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True", "filesystem://"]


def test_passwords_are_hashed_with_argon2_in_production():
    from config import settings as prod

    assert prod.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_celery_is_json_only_and_acks_late():
    from config.celery import app

    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json"
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_routes["scoring.tasks.*"] == {"queue": "gpu"}


def test_an_empty_database_url_means_the_embedded_sqlite_default(tmp_path):
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.DATABASES['default']['ENGINE'])")
    result = _run(["-c", code], DJANGO_SETTINGS_MODULE="config.settings", SECRET_KEY="x" * 50,
                  RUBRICATE_VAR_DIR=str(tmp_path), DATABASE_URL="")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.sqlite3"
