"""Build a small, randomly initialised reward model on disk: no download, seconds on a CPU.

Used by the tests (a tokenizer trained in-process, a two-layer Llama or Qwen2 config) and by
bench/scoring.py (a real RM's shape, e.g. Qwen3-0.6B, with random weights). The result loads
through the production loader like any hub model: safetensors weights, a tokenizer with a chat
template, AutoModelForSequenceClassification.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
)
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>"]

_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Reward models score responses to prompts; higher is better.",
    "def add(a, b):\n    return a + b\n",
    "Explain photosynthesis in simple terms for a ten year old.",
    "Paris is the capital of France. Berlin is the capital of Germany.",
    "I cannot help with that request, but here is a safer alternative.",
    "Step 1: read the question. Step 2: think. Step 3: answer clearly and concisely.",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000 3.14159 -42",
    "user assistant system helpful harmless honest rubric criterion score",
]


def train_tokenizer(*, vocab_size: int = 512, corpus: list[str] | None = None):
    """A byte-level BPE tokenizer trained in-process, with a ChatML-style chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))  # noqa: S106 - a token, not a password
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator((corpus or _CORPUS) * 20, trainer=trainer)
    special = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, additional_special_tokens=["<|im_start|>", "<|im_end|>"], **special
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def pad_is_eos_tokenizer(tokenizer=None):
    """The tiny tokenizer the way many decoder RMs ship: no pad token of its own (pad = eos) and a
    chat template that ends every conversation with eos, so a real sequence ends with the pad id."""
    tokenizer = tokenizer or train_tokenizer()
    tokenizer.pad_token = tokenizer.eos_token
    tokenizer.chat_template = CHAT_TEMPLATE + "{{ eos_token }}"
    return tokenizer


def build_reward_model(
    path: str | Path, *, arch: str = "llama", layers: int = 2, hidden: int = 64, heads: int = 4,
    kv_heads: int = 2, intermediate: int = 128, vocab_size: int | None = None, max_positions: int = 2048,
    labels: list[str] | None = None, seed: int = 0, tokenizer=None, head_dim: int | None = None,
    dtype=None, device: str | None = None,
) -> Path:
    """Write tokenizer + random AutoModelForSequenceClassification (safetensors) to `path`.

    `labels` names several reward heads (a multi-objective RM); default: one head. `dtype` and
    `device` (e.g. bf16 on "cuda") let the bench build an 8B shape without 32 GB of fp32 on a CPU.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, LlamaConfig, Qwen2Config, Qwen3Config

    path = Path(path)
    tokenizer = tokenizer or train_tokenizer()
    labels = labels or ["reward"]
    config_cls = {"llama": LlamaConfig, "qwen2": Qwen2Config, "qwen3": Qwen3Config}[arch]
    extra = {"head_dim": head_dim} if head_dim else {}
    config = config_cls(
        vocab_size=max(vocab_size or 0, len(tokenizer)), hidden_size=hidden, intermediate_size=intermediate,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)},
        tie_word_embeddings=False, **extra,
    )
    torch.manual_seed(seed)
    with torch.device(device or "cpu"):
        model = AutoModelForSequenceClassification.from_config(config, dtype=dtype or torch.float32)
    with torch.no_grad():
        # Random init gives near-zero, near-identical rewards; a larger head spreads them out.
        model.score.weight.normal_(0, 0.3)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


GATED_MODELING = '''"""A tiny ArmoRM-style gated multi-objective reward model (remote code, for tests)."""

from dataclasses import dataclass

import torch
from transformers import LlamaConfig, LlamaModel, LlamaPreTrainedModel
from transformers.utils import ModelOutput


class TinyGatedConfig(LlamaConfig):
    model_type = "tiny_gated_rm"

    def __init__(self, num_objectives=5, objective_names=None, **kwargs):
        self.num_objectives = num_objectives
        self.objective_names = objective_names
        super().__init__(**kwargs)


@dataclass
class GatedOutput(ModelOutput):
    rewards: torch.FloatTensor = None
    gating_output: torch.FloatTensor = None
    score: torch.FloatTensor = None
    logits: torch.FloatTensor = None


class TinyGatedRM(LlamaPreTrainedModel):
    config_class = TinyGatedConfig

    def __init__(self, config):
        super().__init__(config)
        self.model = LlamaModel(config)
        self.regression_layer = torch.nn.Linear(config.hidden_size, config.num_objectives, bias=False)
        self.gating = torch.nn.Linear(config.hidden_size, config.num_objectives)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        rows = torch.arange(input_ids.shape[0], device=input_ids.device)
        last = hidden[rows, attention_mask.sum(-1) - 1]
        rewards = self.regression_layer(last)
        gating = torch.softmax(self.gating(hidden[:, 0]), dim=-1)  # ArmoRM gates on the prompt
        score = (gating * rewards).sum(-1, keepdim=True)
        return GatedOutput(rewards=rewards, gating_output=gating, score=score, logits=score)
'''


def build_gated_reward_model(path: str | Path, *, objectives: int = 5, objective_names: list[str] | None = None,
                             tokenizer=None, seed: int = 0) -> Path:
    """An ArmoRM-shaped model: per-objective `rewards`, softmax `gating_output`, gated `score`, in
    remote code (`modeling_tiny_gated.py` + `auto_map`), so it loads only with trust_remote_code."""
    import importlib.util

    import torch

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "modeling_tiny_gated.py").write_text(GATED_MODELING)
    spec = importlib.util.spec_from_file_location(f"tiny_gated_{seed}_{id(path)}", path / "modeling_tiny_gated.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tokenizer = tokenizer or train_tokenizer()
    config = module.TinyGatedConfig(
        num_objectives=objectives, objective_names=objective_names, vocab_size=len(tokenizer), hidden_size=64,
        intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=2048, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False,
    )
    config.auto_map = {"AutoConfig": "modeling_tiny_gated.TinyGatedConfig",
                       "AutoModelForSequenceClassification": "modeling_tiny_gated.TinyGatedRM"}
    torch.manual_seed(seed)
    model = module.TinyGatedRM(config)
    with torch.no_grad():
        model.regression_layer.weight.normal_(0, 0.3)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
