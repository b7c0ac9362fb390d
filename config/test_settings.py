"""Settings for the test suite: PostgreSQL and Redis on their standard local ports.

DATABASE_URL defaults to the local `test` database; pytest-django creates its own test database
from it (TEST_DATABASE_NAME, default test_rubricate). REDIS_URL defaults to local Redis db 15.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("HTTPS", "0")
os.environ.setdefault("RUBRICATE_VAR_DIR", os.path.join(os.getcwd(), "var", "test"))

from .settings import *  # noqa: E402,F403
from .settings import DATABASES, env  # noqa: E402

DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_rubricate")}

# Fast hashing: Argon2 in every login of every test would dominate the suite's time.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"export": "10000/hour", "import": "10000/hour"}}  # noqa: F405

# Static files come from the finders in tests (no collectstatic run).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Token guessing throttle: the suite sends many bad tokens from 127.0.0.1 on purpose; the test of the
# throttle sets its own limit.
API_TOKEN_FAILURE_LIMIT = 10000
