import os

import pytest

from config.celery import ping

pytestmark = pytest.mark.integration


def test_a_task_round_trips_through_a_real_worker_process_and_redis(celery_worker, settings):
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    result = ping.delay("hello").get(timeout=30)
    assert result["payload"] == "hello"
    assert result["pid"] != os.getpid()
    assert result["db"] == "postgresql"
