"""Scoring backends: one class per Scorer.backend, all behind the same interface (base.Backend).

Heavy imports (torch, transformers, httpx) happen only when a backend is built, in the worker.
"""

from __future__ import annotations

from .base import Backend, BackendError, ScorerSpec


def build_backend(spec: ScorerSpec) -> Backend:
    """A ready backend for `spec` (loads the model / opens the HTTP client)."""
    if spec.backend == "length":
        from .length import LengthBackend

        return LengthBackend(spec)
    if spec.backend == "hf_sequence_classifier":
        from .hf import HFSequenceClassifier

        return HFSequenceClassifier(spec)
    if spec.backend == "openai_judge":
        from .judge import OpenAIJudge

        return OpenAIJudge(spec)
    raise BackendError(f"Unknown backend {spec.backend!r}.")


_cache: dict[str, Backend] = {}


def backend_for(spec: ScorerSpec, *, keep: int = 1) -> Backend:
    """The process's backend for `spec`, built once and kept (a worker loads a model once).

    Keyed by the spec's fingerprint, so editing a scorer loads the new settings. At most `keep`
    backends stay loaded; the oldest is closed first (GPU memory is the limit).
    """
    key = spec.fingerprint
    backend = _cache.get(key)
    if backend is not None:
        return backend
    while len(_cache) >= keep:
        _cache.pop(next(iter(_cache))).close()
    backend = build_backend(spec)
    _cache[key] = backend
    return backend


def clear_backend_cache() -> None:
    for backend in _cache.values():
        backend.close()
    _cache.clear()


__all__ = ["Backend", "BackendError", "ScorerSpec", "backend_for", "build_backend", "clear_backend_cache"]
