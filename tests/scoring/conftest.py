"""Fixtures for the scoring tests: tiny reward models built locally (nothing is downloaded)."""

import pytest

from scoring.backends import clear_backend_cache


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from scoring.tiny_model import train_tokenizer

    return train_tokenizer()


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory, tiny_tokenizer):
    """A two-layer Llama reward model (one head), saved with safetensors and a chat template."""
    from scoring.tiny_model import build_reward_model

    return str(build_reward_model(tmp_path_factory.mktemp("tiny-rm"), tokenizer=tiny_tokenizer))


@pytest.fixture(scope="session")
def multi_head_model_path(tmp_path_factory, tiny_tokenizer):
    """A two-layer Qwen2 reward model with three named heads (a multi-objective RM)."""
    from scoring.tiny_model import build_reward_model

    return str(build_reward_model(
        tmp_path_factory.mktemp("tiny-armo"), arch="qwen2", tokenizer=tiny_tokenizer,
        labels=["helpfulness", "correctness", "verbosity"], seed=1,
    ))


@pytest.fixture(autouse=True)
def _fresh_backend_cache():
    """Each test loads its own backend (the worker cache is process-wide)."""
    clear_backend_cache()
    yield
    clear_backend_cache()


@pytest.fixture(scope="session")
def pad_eos_model_path(tmp_path_factory):
    """A tiny Llama RM whose tokenizer pads with eos and whose template ends with eos."""
    from scoring.tiny_model import build_reward_model, pad_is_eos_tokenizer

    return str(build_reward_model(tmp_path_factory.mktemp("tiny-pad-eos"), tokenizer=pad_is_eos_tokenizer(), seed=2))


@pytest.fixture(scope="session")
def helpsteer_model_path(tmp_path_factory, tiny_tokenizer):
    """Five heads named as HelpSteer2's attributes (a SteerLM-style regression RM)."""
    from scoring.tiny_model import build_reward_model

    return str(build_reward_model(
        tmp_path_factory.mktemp("tiny-helpsteer"), tokenizer=tiny_tokenizer, seed=3,
        labels=["helpfulness", "correctness", "coherence", "complexity", "verbosity"],
    ))


@pytest.fixture(scope="session")
def gated_model_path(tmp_path_factory, tiny_tokenizer):
    """An ArmoRM-shaped remote-code model naming its objectives in its config."""
    from scoring.tiny_model import build_gated_reward_model

    return str(build_gated_reward_model(
        tmp_path_factory.mktemp("tiny-gated"), tokenizer=tiny_tokenizer,
        objective_names=["helpsteer-helpfulness", "helpsteer-correctness", "ultrafeedback-honesty",
                         "beavertails-is_safe", "code-complexity"],
    ))
