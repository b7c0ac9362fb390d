"""Scoring settings: a Django setting of the same name wins, else the environment, else the default.

Read through functions (not at import) so tests can override them with the `settings` fixture and
worker processes pick them up from their environment.

| name | default | meaning |
| --- | --- | --- |
| SCORING_BATCH_LEASE_SECONDS | 600 | how long a worker's claim on a batch lasts without a heartbeat |
| SCORING_BATCH_MAX_ATTEMPTS | 3 | claims of one batch before the watchdog marks it failed |
| SCORING_WATCHDOG_SECONDS | 30 | how often each worker looks for batches whose lease ran out |
| SCORING_RESPONSES_PER_BATCH | 256 | responses per Celery task (model backends) |
| SCORING_JUDGE_RESPONSES_PER_BATCH | 16 | responses per Celery task (judge backend) |
| SCORING_JUDGE_ALLOWED_HOSTS | "" | host names, IPs or CIDRs (comma-separated) a judge may reach though private |
| SCORING_HF_CACHE_MODELS | 1 | models a worker process keeps loaded |
| SCORING_JUDGE_KEY_PREFIX | RUBRICATE_JUDGE_KEY_ | a judge's `api_key_env` must start with this prefix… |
| SCORING_JUDGE_KEY_VARIABLES | "" | …or be one of these names (comma-separated): no other variable leaves a worker |
"""

from __future__ import annotations

import os

from django.conf import settings

_DEFAULTS: dict[str, object] = {
    "SCORING_BATCH_LEASE_SECONDS": 600,
    "SCORING_BATCH_MAX_ATTEMPTS": 3,
    "SCORING_WATCHDOG_SECONDS": 30,
    "SCORING_RESPONSES_PER_BATCH": 256,
    "SCORING_JUDGE_RESPONSES_PER_BATCH": 16,
    "SCORING_JUDGE_ALLOWED_HOSTS": "",
    "SCORING_HF_CACHE_MODELS": 1,
    "SCORING_JUDGE_KEY_PREFIX": "RUBRICATE_JUDGE_KEY_",
    "SCORING_JUDGE_KEY_VARIABLES": "",
}


def _get(name: str):
    if hasattr(settings, name):
        return getattr(settings, name)
    value = os.environ.get(name)
    if value is None or value == "":
        return _DEFAULTS[name]
    return type(_DEFAULTS[name])(value) if not isinstance(_DEFAULTS[name], str) else value


def batch_lease_seconds() -> float:
    return float(_get("SCORING_BATCH_LEASE_SECONDS"))


def batch_max_attempts() -> int:
    return max(1, int(_get("SCORING_BATCH_MAX_ATTEMPTS")))


def watchdog_seconds() -> float:
    return float(_get("SCORING_WATCHDOG_SECONDS"))


def responses_per_batch(*, judge: bool) -> int:
    return max(1, int(_get("SCORING_JUDGE_RESPONSES_PER_BATCH" if judge else "SCORING_RESPONSES_PER_BATCH")))


def judge_allowed_hosts() -> list[str]:
    value = _get("SCORING_JUDGE_ALLOWED_HOSTS")
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def judge_key_prefix() -> str:
    return str(_get("SCORING_JUDGE_KEY_PREFIX"))


def judge_key_env_allowed(name: str) -> bool:
    """Whether a judge may send environment variable `name` as its API key. Only names an operator
    allowed (the prefix, or the explicit list) qualify, so a scorer cannot send SECRET_KEY or
    DATABASE_URL to its endpoint."""
    prefix = judge_key_prefix()
    listed = {part.strip() for part in str(_get("SCORING_JUDGE_KEY_VARIABLES")).split(",") if part.strip()}
    return name in listed or bool(prefix and name.startswith(prefix) and len(name) > len(prefix))


def hf_cache_models() -> int:
    return max(1, int(_get("SCORING_HF_CACHE_MODELS")))
