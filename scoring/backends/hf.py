"""`hf_sequence_classifier`: a transformers AutoModelForSequenceClassification reward model.

The reward of a response is the model's logit at the last real (non-pad) token of the chat
rendered with the model's own template. Several labels are named components (multi-objective RMs
such as ArmoRM) besides the main score. On CUDA: bf16 (auto), FlashAttention-2 when installed,
else PyTorch SDPA; out-of-memory halves the batch and goes on. On CPU: fp32 and SDPA.
Weights load from safetensors only; remote code runs only when the scorer enables it.
"""

from __future__ import annotations

import inspect
import logging
import os
from array import array
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from .base import (
    Backend,
    BackendError,
    ScoredChunk,
    ScoreInput,
    ScoreResult,
    ScorerSpec,
    ScoringContext,
    message_text,
    stable_hash,
)
from .batching import plan_token_budget_batches

log = logging.getLogger(__name__)

POOLINGS = ("last_token", "hf")
POOLING_DEFAULT = "last_token"
# Config attributes custom multi-objective RMs use to name their heads (checked after id2label).
_CONFIG_NAME_LISTS = ("objective_names", "reward_names", "attributes", "label_names")
# Nemotron-4-340B-Reward's model card: "[0, 0, 0, 0, 0.3, 0.74, 0.46, 0.47, -0.33]" over its nine
# outputs, the last five being HelpSteer2's attributes (the first four are not trained or used).
WEIGHT_PRESETS = {
    "helpsteer2": {"helpfulness": 0.3, "correctness": 0.74, "coherence": 0.46, "complexity": 0.47,
                   "verbosity": -0.33},
}


def component_weights(options: dict) -> dict[str, float]:
    """{component: weight} for a weighted main score: options.weights, else a preset, else {}."""
    weights = options.get("weights") or {}
    preset = options.get("weights_preset") or ""
    if weights and preset:
        raise BackendError("Set weights or weights_preset, not both.")
    if preset:
        if preset not in WEIGHT_PRESETS:
            raise BackendError(f"Unknown weights_preset {preset!r} (one of {', '.join(WEIGHT_PRESETS)}).")
        return dict(WEIGHT_PRESETS[preset])
    if not isinstance(weights, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                 for v in weights.values()):
        raise BackendError("weights must map component names to numbers.")
    return {str(k): float(v) for k, v in weights.items()}

# Word joiner: breaks a control-token string inside untrusted text without changing what a reader
# sees. Only used with tokenizers too old for apply_chat_template(sanitize_control_tokens=True).
_NEUTRAL = "\u2060"


@dataclass
class Encoded:
    ids: list[int]
    truncated: bool
    input_hash: str


def resolve_device_and_dtype(spec: ScorerSpec):
    """(device, torch dtype): bf16 on CUDA by default (fp16 where bf16 is unsupported), fp32 on CPU."""
    import torch

    device = spec.options.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
    on_cuda = str(device).startswith("cuda")
    if spec.dtype == "auto":
        half = torch.bfloat16 if on_cuda and torch.cuda.is_bf16_supported() else torch.float16
        dtype = half if on_cuda else torch.float32
    else:
        dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[spec.dtype]
    return device, dtype


def pick_attention(device: str, dtype) -> str:
    """FlashAttention-2 on CUDA in half precision when the package is installed, else SDPA."""
    import torch

    if str(device).startswith("cuda") and dtype in (torch.bfloat16, torch.float16):
        try:
            import flash_attn  # noqa: F401

            return "flash_attention_2"
        except ImportError:
            pass
    return "sdpa"


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


class HFSequenceClassifier(Backend):
    name = "hf_sequence_classifier"

    def __init__(self, spec: ScorerSpec):
        super().__init__(spec)
        if not spec.model:
            raise BackendError("This scorer has no model path or hub id.")
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.torch = torch
        self.device, self.dtype = resolve_device_and_dtype(spec)
        local = os.path.isdir(spec.model)
        common = {
            "revision": (spec.revision or None) if not local else None,
            "trust_remote_code": bool(spec.trust_remote_code),
            "local_files_only": local or bool(spec.options.get("local_files_only")),
        }
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(spec.model, **common)
        except (OSError, ValueError) as exc:
            raise BackendError(f"Could not load the tokenizer of {spec.model!r}: {exc}") from exc
        self.attn_implementation = pick_attention(self.device, self.dtype)
        model = None
        for attn in dict.fromkeys([self.attn_implementation, "sdpa", "eager"]):
            try:
                model = AutoModelForSequenceClassification.from_pretrained(
                    spec.model, dtype=self.dtype, attn_implementation=attn, use_safetensors=True, **common
                )
                self.attn_implementation = attn
                break
            except ValueError as exc:
                # A model class without this attention implementation: try the next one.
                if "attn" in str(exc).lower() or "attention" in str(exc).lower():
                    log.info("%s does not support %s attention; trying another", spec.model, attn)
                    continue
                raise BackendError(f"Could not load {spec.model!r}: {exc}") from exc
            except OSError as exc:
                raise BackendError(
                    f"Could not load {spec.model!r} (safetensors weights are required): {exc}"
                ) from exc
        if model is None:
            raise BackendError(f"No supported attention implementation for {spec.model!r}.")
        self.model = model.to(self.device).eval()

        if self.tokenizer.pad_token_id is None:
            # Decoder RMs often ship without a pad token; the attention mask makes its value moot.
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        if getattr(self.model.config, "pad_token_id", None) is None:
            self.model.config.pad_token_id = self.pad_id
        self.bos_id = self.tokenizer.bos_token_id
        self.max_length = int(spec.max_length)
        self.token_budget = max(self.max_length, int(spec.batch_token_budget))
        overhead = spec.options.get("batch_overhead_tokens")
        self.batch_overhead = None if overhead in (None, "") else int(overhead)
        self.input_format = spec.options.get("input_format", "chat_template")
        if self.input_format == "chat_template" and not self.tokenizer.chat_template:
            raise BackendError(
                f"{spec.model!r} has no chat template. Set options.input_format to \"pair\" for "
                "cross-encoder reward models (question, answer), or use a model that ships a template."
            )
        self.model_revision = spec.revision or getattr(self.model.config, "_commit_hash", None) or "local"
        self.label_names = self._label_names()
        self.main_component = spec.options.get("main_component") or None
        if self.main_component and self.main_component not in self.label_names:
            raise BackendError(
                f"main_component {self.main_component!r} is not one of the model's labels {self.label_names}."
            )
        # "last_token": the logit at the last real token (attention mask); "hf": the model's own
        # pooling (transformers: the last token that is not pad_token_id), as TRL and RewardBench read it.
        self.pooling = spec.options.get("pooling") or POOLING_DEFAULT
        if self.pooling not in POOLINGS:
            raise BackendError(f"pooling must be one of {', '.join(POOLINGS)}, not {self.pooling!r}.")
        self.weights = component_weights(spec.options)
        if self.weights and self.main_component:
            raise BackendError("Set main_component or weights, not both.")
        unknown = [n for n in self.weights if n not in self.label_names]
        if unknown and len(self.label_names) == self._head_count():
            raise BackendError(f"weights name {', '.join(unknown)}, not among the model's labels {self.label_names}.")
        self._sanitize_supported = "sanitize_control_tokens" in inspect.signature(
            self.tokenizer.apply_chat_template
        ).parameters
        self._captured = None
        self.last_gating: list[dict[str, float]] | None = None
        self._pair_truncated = False
        # Decoder RMs pool inside forward() by comparing ids with pad_token_id, which goes wrong when a
        # sequence really ends with the pad id (pad = eos). Capture the per-token head output and
        # read the last real position from the attention mask instead.
        head = getattr(self.model, "score", None)
        self._hook = (
            head.register_forward_hook(self._capture) if isinstance(head, torch.nn.Module) else None
        )
        self._accepts_use_cache = "use_cache" in inspect.signature(self.model.forward).parameters

    # --- setup helpers ---------------------------------------------------------------------
    def _label_names(self) -> list[str]:
        """Component names: options.component_names, else the config's labels (id2label, or a list
        such as `objective_names` on custom multi-objective configs), else LABEL_i."""
        names = self.spec.options.get("component_names")
        if names:
            return [str(n) for n in names]
        config = self.model.config
        id2label = getattr(config, "id2label", None) or {}
        n = int(getattr(config, "num_labels", 1) or 1)
        labels = [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(n)]
        heads = self._head_count()
        if heads != n or all(label == f"LABEL_{i}" for i, label in enumerate(labels)):
            for attr in _CONFIG_NAME_LISTS:
                listed = getattr(config, attr, None)
                if (isinstance(listed, (list, tuple)) and len(listed) == heads
                        and all(isinstance(x, str) for x in listed)):
                    return list(listed)
        return labels

    def _head_count(self) -> int:
        """Outputs of the reward head: num_labels, or a custom config's objective count (ArmoRM)."""
        config = self.model.config
        for attr in ("num_objectives", "num_rewards"):
            value = getattr(config, attr, None)
            if isinstance(value, int) and value > 0:
                return value
        return int(getattr(config, "num_labels", 1) or 1)

    def _capture(self, module, args, output):
        self._captured = output

    # --- encoding --------------------------------------------------------------------------
    def _neutralise(self, text: str) -> str:
        for token in self.tokenizer.all_special_tokens:
            if len(token) > 1 and token in text:
                text = text.replace(token, token[0] + _NEUTRAL + token[1:])
        return text

    def _messages(self, inp: ScoreInput, *, neutralise: bool) -> list[dict]:
        clean = self._neutralise if neutralise else (lambda t: t)
        messages = [
            {"role": str(m.get("role", "user")), "content": clean(message_text(m.get("content")))}
            for m in inp.prompt if isinstance(m, dict)
        ]
        messages.append({"role": "assistant", "content": clean(inp.response)})
        return messages

    def _render_ids(self, inp: ScoreInput) -> list[int]:
        """Token ids of the whole input, untruncated (the pair format truncates itself)."""
        if self.input_format == "pair":
            return self._render_pair(inp)
        if self._sanitize_supported:
            try:
                ids = self.tokenizer.apply_chat_template(
                    self._messages(inp, neutralise=False), tokenize=True, return_dict=False,
                    sanitize_control_tokens=True,
                )
                return list(ids)
            except NotImplementedError:
                pass
        text = self.tokenizer.apply_chat_template(self._messages(inp, neutralise=True), tokenize=False)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _render_pair(self, inp: ScoreInput) -> list[int]:
        """Cross-encoder RMs (OpenAssistant DeBERTa): [CLS] question [SEP] answer [SEP].
        Sets self._pair_truncated (the special tokens must survive, so it truncates the parts)."""
        question = "\n\n".join(message_text(m.get("content")) for m in inp.prompt if isinstance(m, dict))
        budget = self.max_length - self.tokenizer.num_special_tokens_to_add(pair=True)
        rust = getattr(self.tokenizer, "_tokenizer", None)
        if rust is not None:
            previous = rust.encode_special_tokens
            rust.encode_special_tokens = True  # control tokens inside untrusted text stay plain text
            try:
                q = rust.encode(question, add_special_tokens=False)
                a = rust.encode(inp.response, add_special_tokens=False)
            finally:
                rust.encode_special_tokens = previous
            # Left truncation: cut the start of the question first, then of the answer.
            overflow = len(q.ids) + len(a.ids) - budget
            self._pair_truncated = overflow > 0
            if overflow > 0:
                cut_q = min(overflow, len(q.ids))
                q.truncate(len(q.ids) - cut_q, direction="left")
                if overflow - cut_q > 0:
                    a.truncate(len(a.ids) - (overflow - cut_q), direction="left")
            if rust.post_processor is None:
                return list(q.ids) + list(a.ids)
            return list(rust.post_processor.process(q, a, add_special_tokens=True).ids)
        q = self.tokenizer(question, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        a = self.tokenizer(inp.response, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        overflow = len(q) + len(a) - budget
        self._pair_truncated = overflow > 0
        if overflow > 0:
            cut_q = min(overflow, len(q))
            q, a = q[cut_q:], a[max(0, overflow - cut_q):]
        return list(self.tokenizer.build_inputs_with_special_tokens(q, a))

    def encode(self, inp: ScoreInput) -> Encoded:
        """Token ids of prompt + response as the model sees them, left-truncated to max length."""
        self._pair_truncated = False
        ids = self._render_ids(inp)
        # A template that writes BOS, tokenised by a tokenizer that adds it too, starts with two.
        while self.bos_id is not None and len(ids) >= 2 and ids[0] == self.bos_id and ids[1] == self.bos_id:
            ids = ids[1:]
        truncated = len(ids) > self.max_length or self._pair_truncated
        if len(ids) > self.max_length:
            # Keep the end (the response is what is judged); keep a leading BOS the model expects.
            if self.bos_id is not None and ids and ids[0] == self.bos_id:
                ids = [ids[0]] + ids[len(ids) - self.max_length + 1:]
            else:
                ids = ids[len(ids) - self.max_length:]
        # Pooling and weights enter the hash only when set, so scores from before they existed keep theirs.
        extra = ([self.pooling] if self.pooling != POOLING_DEFAULT else []) + ([self.weights] if self.weights else [])
        digest = stable_hash(
            self.name, self.spec.model, self.spec.revision, self.spec.dtype, self.main_component,
            self.label_names, array("l", ids).tobytes().hex(), *extra,
        )
        return Encoded(ids=ids, truncated=truncated, input_hash=digest)

    # --- forward ---------------------------------------------------------------------------
    def collate(self, sequences: list[list[int]]):
        """Right-padded input_ids and attention_mask on the model's device, plus the lengths."""
        torch = self.torch
        longest = max(len(s) for s in sequences)
        input_ids = torch.full((len(sequences), longest), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(sequences), longest), dtype=torch.long)
        for row, seq in enumerate(sequences):
            input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            attention[row, : len(seq)] = 1
        lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
        return input_ids.to(self.device), attention.to(self.device), lengths.to(self.device)

    def forward(self, sequences: list[list[int]]) -> tuple[list[float], list[dict[str, float]]]:
        """Main scores and named components for a batch of token-id lists (gating weights of a
        gated model are left in `self.last_gating`, one dict per sequence)."""
        torch = self.torch
        input_ids, attention, lengths = self.collate(sequences)
        kwargs = {"use_cache": False} if self._accepts_use_cache else {}
        self._captured = None
        gating = None
        with torch.inference_mode():
            out = self.model(input_ids=input_ids, attention_mask=attention, **kwargs)
            captured, self._captured = self._captured, None
            rows = torch.arange(len(sequences), device=input_ids.device)
            if getattr(out, "rewards", None) is not None and getattr(out, "score", None) is not None:
                # ArmoRM-style custom heads: per-objective rewards plus a gated preference score.
                main = out.score.reshape(len(sequences), -1)[:, 0]
                heads = out.rewards.reshape(len(sequences), -1)
                gating = getattr(out, "gating_output", None)
            else:
                if self.pooling == "last_token" and isinstance(captured, torch.Tensor) and captured.dim() == 3:
                    heads = captured[rows, lengths - 1]
                else:
                    heads = out.logits
                heads = heads.reshape(len(sequences), -1)
                main_index = self.label_names.index(self.main_component) if self.main_component else 0
                main = heads[:, main_index]
            main = main.float().cpu().tolist()
            heads = heads.float().cpu().tolist()
            gating = gating.reshape(len(sequences), -1).float().cpu().tolist() if gating is not None else None
        names = self.label_names
        components = [
            {names[j] if j < len(names) and len(names) == len(row) else f"LABEL_{j}": v for j, v in enumerate(row)}
            if len(row) > 1 else {}
            for row in heads
        ]
        if self.weights:
            missing = [n for n in self.weights if n not in components[0]] if components else []
            if missing:
                raise BackendError(
                    f"weights name {', '.join(missing)}, not among the components {list(components[0])}."
                )
            main = [sum(w * comps[n] for n, w in self.weights.items()) for comps in components]
        self.last_gating = [
            {(names[j] if len(names) == len(row) else f"gate_{j}"): v for j, v in enumerate(row)} for row in gating
        ] if gating is not None else [{} for _ in sequences]
        return main, components

    def _free_cuda(self) -> None:
        if str(self.device).startswith("cuda"):
            self.torch.cuda.empty_cache()

    # --- the scoring loop --------------------------------------------------------------------
    def score_chunks(self, inputs: list[ScoreInput], context: ScoringContext) -> Iterator[ScoredChunk]:
        encoded: list[Encoded | None] = []
        failed: list[ScoreResult] = []
        for inp in inputs:
            try:
                encoded.append(self.encode(inp))
            except Exception as exc:  # a broken template or message: this response fails, not the batch
                encoded.append(None)
                failed.append(ScoreResult(response_id=inp.response_id, value=None,
                                          error=f"could not render the input: {exc}"))
        if failed:
            yield ScoredChunk(results=failed)
        ready = [i for i, e in enumerate(encoded) if e is not None]
        lengths = [len(encoded[i].ids) for i in ready]
        queue = deque([[ready[j] for j in batch]
                       for batch in plan_token_budget_batches(lengths, token_budget=self.token_budget,
                                                              batch_overhead=self.batch_overhead)])
        while queue:
            if context.should_stop():
                return
            batch = queue.popleft()
            self.last_gating = None
            try:
                values, components = self.forward([encoded[i].ids for i in batch])
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                self._free_cuda()
                if len(batch) == 1:
                    yield ScoredChunk(results=[ScoreResult(
                        response_id=inputs[batch[0]].response_id, value=None,
                        error=f"out of memory on one sequence of {len(encoded[batch[0]].ids)} tokens",
                    )])
                    continue
                # Halve: this batch and, from now on, the budget; re-plan what is left.
                padded = len(batch) * max(len(encoded[i].ids) for i in batch)
                self.token_budget = max(1, padded // 2)
                log.warning("CUDA out of memory on %d sequences; token budget now %d", len(batch), self.token_budget)
                half = len(batch) // 2
                rest = [i for b in queue for i in b]
                queue = deque([batch[:half], batch[half:]])
                if rest:
                    rest_lengths = [len(encoded[i].ids) for i in rest]
                    queue.extend([[rest[j] for j in b] for b in
                                  plan_token_budget_batches(rest_lengths, token_budget=self.token_budget,
                                                            batch_overhead=self.batch_overhead)])
                continue
            results = []
            gating = self.last_gating if self.last_gating and len(self.last_gating) == len(batch) else [{}] * len(batch)
            for i, value, comps, gates in zip(batch, values, components, gating, strict=True):
                enc = encoded[i]
                results.append(ScoreResult(
                    response_id=inputs[i].response_id, value=float(value), input_hash=enc.input_hash,
                    components=comps, token_count=len(enc.ids), truncated=enc.truncated,
                    model_revision=self.model_revision, gating=gates,
                ))
            yield ScoredChunk(results=results, tokens=sum(r.token_count for r in results))

    def close(self) -> None:
        if self._hook is not None:
            self._hook.remove()
        self.model = None
        self._free_cuda()
