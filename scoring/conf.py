"""Scoring settings: a Django setting of the same name wins, else the environment, else the default.

Read through functions (not at import) so tests can override them with the `settings` fixture and
worker processes pick them up from their environment.

| name | default | meaning |
| --- | --- | --- |
| SCORING_BATCH_LEASE_SECONDS | 600 | how long a worker's claim on a batch lasts without a heartbeat |
| SCORING_BATCH_MAX_ATTEMPTS | 3 | claims of one batch before the watchdog marks it failed |
| SCORING_WATCHDOG_SECONDS | 30 | how often each worker reconciles: expired leases, unsent and lost messages |
| SCORING_RESEND_SECONDS | 60 | a pending batch's message this old, missing from the broker, is sent again |
| SCORING_RESPONSES_PER_BATCH | 256 | responses per Celery task (model backends) |
| SCORING_JUDGE_RESPONSES_PER_BATCH | 16 | responses per Celery task (judge backend) |
| SCORING_JUDGE_ALLOWED_HOSTS | "" | host names, IPs or CIDRs (comma-separated) a judge may reach though private |
| SCORING_HF_CACHE_MODELS | 1 | models a worker process keeps loaded |
| SCORING_TORCH_THREADS | 0 | torch intra-op threads per worker process (0: torch's default, all cores) |
| SCORING_GPU_MEMORY_FRACTION | 0.85 | share of free GPU memory a learned token budget may fill |
| SCORING_MAX_TOKEN_BUDGET | 262144 | upper bound of a learned token budget (padded tokens per forward) |
| SCORING_JUDGE_CONCURRENCY | 16 | requests a judge keeps in flight per worker, unless the scorer sets its own |
| SCORING_JUDGE_MAX_RETRY_WAIT | 60 | longest wait (s) before a judge retry, even when Retry-After asks more |
| SCORING_PROBE_PROMPTS | 16 | project prompts the robustness probe samples |
| SCORING_JUDGE_KEY_PREFIX | RUBRICATE_JUDGE_KEY_ | a judge's `api_key_env` must start with this prefix… |
| SCORING_JUDGE_KEY_VARIABLES | "" | …or be one of these names (comma-separated): no other variable leaves a worker |
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_DEFAULTS: dict[str, object] = {
    "SCORING_BATCH_LEASE_SECONDS": 600,
    "SCORING_BATCH_MAX_ATTEMPTS": 3,
    "SCORING_WATCHDOG_SECONDS": 30,
    "SCORING_RESEND_SECONDS": 60,
    "SCORING_RESPONSES_PER_BATCH": 256,
    "SCORING_JUDGE_RESPONSES_PER_BATCH": 16,
    "SCORING_JUDGE_ALLOWED_HOSTS": "",
    "SCORING_HF_CACHE_MODELS": 1,
    "SCORING_TORCH_THREADS": 0,
    "SCORING_GPU_MEMORY_FRACTION": 0.85,
    "SCORING_MAX_TOKEN_BUDGET": 262144,
    "SCORING_JUDGE_CONCURRENCY": 16,
    "SCORING_JUDGE_MAX_RETRY_WAIT": 60.0,
    "SCORING_PROBE_PROMPTS": 16,
    "SCORING_JUDGE_KEY_PREFIX": "RUBRICATE_JUDGE_KEY_",
    "SCORING_JUDGE_KEY_VARIABLES": "",
}


def _get(name: str):
    try:
        if hasattr(settings, name):
            return getattr(settings, name)
    except ImproperlyConfigured:
        pass  # a backend used outside Django (a bench on a bare GPU box): the environment decides
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


def resend_seconds() -> float:
    return float(_get("SCORING_RESEND_SECONDS"))


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


def torch_threads() -> int:
    return max(0, int(_get("SCORING_TORCH_THREADS")))


def gpu_memory_fraction() -> float:
    return min(0.98, max(0.05, float(_get("SCORING_GPU_MEMORY_FRACTION"))))


def max_token_budget() -> int:
    return max(1, int(_get("SCORING_MAX_TOKEN_BUDGET")))


def judge_concurrency() -> int:
    return max(1, int(_get("SCORING_JUDGE_CONCURRENCY")))


def judge_max_retry_wait() -> float:
    return max(0.0, float(_get("SCORING_JUDGE_MAX_RETRY_WAIT")))


def probe_prompts() -> int:
    return max(1, int(_get("SCORING_PROBE_PROMPTS")))
