"""`hf_sequence_classifier`: a transformers AutoModelForSequenceClassification reward model.

The reward of a response is the model's logit at the last real (non-pad) token of the chat
rendered with the model's own template. Several labels are named components (multi-objective RMs
such as ArmoRM) besides the main score. On CUDA: bf16 (auto), FlashAttention-2 when installed,
else PyTorch SDPA; out-of-memory halves the batch and goes on. On CPU: fp32 and SDPA.
Weights load from safetensors only; remote code runs only when the scorer enables it.

The scoring loop is a three-stage pipeline, so the device never waits for Python:

    producer thread          device thread                 caller (the worker's service)
    render + tokenise  ──►   copy (non-blocking) + forward  ──►  upsert results, renew the lease
    plan + collate           OOM: halve and go on
    (pinned memory)

The producer works through the inputs longest first (by characters, a cheap proxy for tokens) in
windows, plans each window's token-budget batches on the real token counts and collates them into
pinned host memory while the device runs the previous batches; a bounded queue keeps it at most
`PREFETCH_BATCHES` ahead. The caller writes one chunk while the device computes the next.
On CUDA the token budget is learned from free memory at load (`options.token_budget = "auto"`).
"""

from __future__ import annotations

import inspect
import logging
import os
import queue
import threading
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


def token_budget_from_memory(
    *, free_bytes: int, bytes_per_token: float, fraction: float, floor: int, cap: int,
) -> int:
    """Padded tokens per forward that fit `fraction` of the free device memory, given what one
    token costs (activations and workspace, measured by a probe forward). Never below `floor`
    (one sequence of max length must fit, or it fails alone with its length) nor above `cap`
    (past a few hundred thousand tokens a bigger batch is no faster, only riskier)."""
    if bytes_per_token <= 0:
        return cap
    return int(max(floor, min(cap, fraction * free_bytes / bytes_per_token)))


class Collated(list):
    """A batch of token-id lists, collated ahead by the producer thread: `tensors` holds
    (input_ids, attention_mask, lengths) in host memory (pinned on CUDA), or None to collate when
    needed. A list, so code that wraps `forward(sequences)` keeps working."""

    def __init__(self, sequences, rows: list[int], tensors=None):
        super().__init__(sequences)
        self.rows = rows
        self.tensors = tensors

    @property
    def padded(self) -> int:
        return len(self) * max((len(s) for s in self), default=0)


_END = object()


class HFSequenceClassifier(Backend):
    name = "hf_sequence_classifier"

    def __init__(self, spec: ScorerSpec):
        super().__init__(spec)
        if not spec.model:
            raise BackendError("This scorer has no model path or hub id.")
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from .. import conf

        self.torch = torch
        if conf.torch_threads():
            # One worker process per device: on a CPU "device" (a core or a few), each worker's
            # torch uses only its share, so k workers do not fight over the same cores.
            torch.set_num_threads(conf.torch_threads())
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
        # The per-forward overhead follows the configured budget, not a learned one: what a forward
        # costs beyond its tokens (launches, Python) does not grow with the device's memory.
        self.batch_overhead = int(spec.batch_token_budget) // 16 if overhead in (None, "") else int(overhead)
        self.on_cuda = str(self.device).startswith("cuda")
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
        self.learned_budget: int | None = None
        self.bytes_per_token: float | None = None
        if self.on_cuda and spec.options.get("token_budget", "auto") == "auto":
            self.token_budget = self.learned_budget = self.learn_token_budget()
            log.info("%s: token budget %d learned from free CUDA memory", spec.model, self.token_budget)

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

    def learn_token_budget(self, *, probe_tokens: int = 8192) -> int:
        """Measure what a token costs on the device (peak memory of a probe forward over rows of
        the longest allowed length, the worst case per token), then fit the free memory
        (`SCORING_GPU_MEMORY_FRACTION` of it). CUDA only."""
        from .. import conf

        torch = self.torch
        length = min(self.max_length, probe_tokens)
        rows = max(1, probe_tokens // length)
        ids = torch.randint(0, int(getattr(self.model.config, "vocab_size", 2) or 2), (rows, length))
        sequences = Collated(ids.tolist(), list(range(rows)))
        torch.cuda.synchronize(self.device)
        torch.cuda.empty_cache()
        baseline = torch.cuda.memory_allocated(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        try:
            self.forward(sequences)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            self._free_cuda()
            return self.max_length  # not even the probe fits: one sequence at a time
        torch.cuda.synchronize(self.device)
        per_token = (torch.cuda.max_memory_allocated(self.device) - baseline) / (rows * length)
        self.bytes_per_token = per_token
        self._free_cuda()
        free, _total = torch.cuda.mem_get_info(self.device)
        return token_budget_from_memory(
            free_bytes=free, bytes_per_token=per_token, fraction=conf.gpu_memory_fraction(),
            floor=self.max_length, cap=conf.max_token_budget(),
        )

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
    def collate_host(self, sequences: list[list[int]]):
        """Right-padded input_ids, attention_mask and lengths in host memory, pinned on CUDA so
        the copy to the device can be asynchronous."""
        torch = self.torch
        longest = max(len(s) for s in sequences)
        lengths = [len(s) for s in sequences]
        input_ids = torch.tensor([s + [self.pad_id] * (longest - len(s)) for s in sequences], dtype=torch.long)
        attention = (torch.arange(longest).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)).long()
        lengths = torch.tensor(lengths, dtype=torch.long)
        if self.on_cuda:
            return input_ids.pin_memory(), attention.pin_memory(), lengths.pin_memory()
        return input_ids, attention, lengths

    def to_device(self, tensors):
        """Host tensors → the model's device; non-blocking from pinned memory (the forward waits
        on the same stream, the host does not)."""
        return tuple(t.to(self.device, non_blocking=self.on_cuda) for t in tensors)

    def collate(self, sequences: list[list[int]]):
        """Right-padded input_ids and attention_mask on the model's device, plus the lengths."""
        return self.to_device(self.collate_host(sequences))

    def forward(self, sequences: list[list[int]]) -> tuple[list[float], list[dict[str, float]]]:
        """Main scores and named components for a batch of token-id lists (a `Collated` batch
        brings its host tensors, made ahead by the producer thread; gating weights of a gated
        model are left in `self.last_gating`, one dict per sequence)."""
        torch = self.torch
        host = getattr(sequences, "tensors", None)
        input_ids, attention, lengths = self.to_device(host) if host is not None else self.collate(sequences)
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
    # Inputs encoded per producer window (at least; and at least two token budgets' worth): enough
    # to plan well-filled batches, few enough that the device starts soon. Windows follow a global
    # longest-first order, so they barely mix lengths.
    ENCODE_WINDOW = 64
    # Collated batches the producer may hold ready (pinned host memory) ahead of the device.
    PREFETCH_BATCHES = 2

    def score_chunks(self, inputs: list[ScoreInput], context: ScoringContext) -> Iterator[ScoredChunk]:
        """Chunks of results as the device finishes them (see the module docstring's pipeline).
        A cancel (`context.should_stop`) is checked before each chunk is handed over; the
        threads stop with the generator."""
        if not inputs:
            return
        stop = threading.Event()
        ready: queue.Queue = queue.Queue(maxsize=self.PREFETCH_BATCHES)
        done: queue.Queue = queue.Queue(maxsize=self.PREFETCH_BATCHES)
        encoded: dict[int, Encoded] = {}
        threads = [
            threading.Thread(target=self._produce, args=(inputs, encoded, ready, stop),
                             name="scoring-producer", daemon=True),
            threading.Thread(target=self._run_device, args=(inputs, encoded, ready, done, stop),
                             name="scoring-device", daemon=True),
        ]
        for thread in threads:
            thread.start()
        try:
            while True:
                item = done.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                if context.should_stop():
                    return
                yield item
        finally:
            stop.set()
            for q in (ready, done):  # unblock a thread waiting to put
                while not q.empty():
                    q.get_nowait()
            for thread in threads:
                thread.join(timeout=60)

    @staticmethod
    def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _plan(self, rows: list[int], encoded: dict[int, Encoded]) -> list[list[int]]:
        lengths = [len(encoded[i].ids) for i in rows]
        return [[rows[j] for j in batch] for batch in
                plan_token_budget_batches(lengths, token_budget=self.token_budget, batch_overhead=self.batch_overhead)]

    def _produce(self, inputs, encoded, ready: queue.Queue, stop: threading.Event) -> None:
        """Producer thread: render, tokenise, plan and collate, window by window, longest first."""
        try:
            def chars(i: int) -> int:
                inp = inputs[i]
                return len(inp.response) + sum(len(message_text(m.get("content"))) for m in inp.prompt
                                               if isinstance(m, dict))

            order = deque(sorted(range(len(inputs)), key=lambda i: (-chars(i), i)))
            while order:
                if stop.is_set():
                    return
                # A window: at least ENCODE_WINDOW inputs and two budgets' worth of tokens, so that
                # its batches can be as full as the budget allows.
                rows, failed, window_tokens = [], [], 0
                while order and (len(rows) + len(failed) < self.ENCODE_WINDOW or window_tokens < 2 * self.token_budget):
                    i = order.popleft()
                    try:
                        encoded[i] = self.encode(inputs[i])
                        rows.append(i)
                        window_tokens += len(encoded[i].ids)
                    except Exception as exc:  # a broken template or message: this response fails alone
                        failed.append(ScoreResult(response_id=inputs[i].response_id, value=None,
                                                  error=f"could not render the input: {exc}"))
                if failed and not self._put(ready, ScoredChunk(results=failed), stop):
                    return
                for batch in self._plan(rows, encoded):
                    sequences = [encoded[i].ids for i in batch]
                    if not self._put(ready, Collated(sequences, batch, self.collate_host(sequences)), stop):
                        return
            self._put(ready, _END, stop)
        except BaseException as exc:  # handed to the caller, raised there
            self._put(ready, exc, stop)

    def _run_device(self, inputs, encoded, ready: queue.Queue, done: queue.Queue, stop: threading.Event) -> None:
        """Device thread: forward each collated batch; on out-of-memory halve it and the budget."""
        try:
            while not stop.is_set():
                try:
                    item = ready.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is _END or isinstance(item, (BaseException, ScoredChunk)):
                    if not self._put(done, item, stop) or item is _END or isinstance(item, BaseException):
                        return
                    continue
                work = deque([item])
                while work and not stop.is_set():
                    batch = work.popleft()
                    if len(batch) > 1 and batch.padded > self.token_budget:
                        # Planned before an out-of-memory lowered the budget: re-plan under the new one.
                        work.extendleft(reversed([Collated([encoded[i].ids for i in b], b)
                                                  for b in self._plan(batch.rows, encoded)]))
                        continue
                    chunk = self._forward_batch(batch, inputs, encoded, work)
                    if chunk is not None and not self._put(done, chunk, stop):
                        return
        except BaseException as exc:
            self._put(done, exc, stop)

    def _forward_batch(self, batch: Collated, inputs, encoded, work: deque) -> ScoredChunk | None:
        """One forward; its results, or None after an out-of-memory put the halves back on `work`."""
        self.last_gating = None
        try:
            values, components = self.forward(batch)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            batch.tensors = None
            self._free_cuda()
            if len(batch) == 1:
                return ScoredChunk(results=[ScoreResult(
                    response_id=inputs[batch.rows[0]].response_id, value=None,
                    error=f"out of memory on one sequence of {len(batch[0])} tokens",
                )])
            # Halve: this batch and, from now on, the budget (the rest is re-planned as it comes).
            self.token_budget = max(1, batch.padded // 2)
            log.warning("CUDA out of memory on %d sequences; token budget now %d", len(batch), self.token_budget)
            half = len(batch) // 2
            work.extendleft([Collated(batch[half:], batch.rows[half:]), Collated(batch[:half], batch.rows[:half])])
            return None
        results = []
        gating = self.last_gating if self.last_gating and len(self.last_gating) == len(batch) else [{}] * len(batch)
        for i, value, comps, gates in zip(batch.rows, values, components, gating, strict=True):
            enc = encoded[i]
            results.append(ScoreResult(
                response_id=inputs[i].response_id, value=float(value), input_hash=enc.input_hash,
                components=comps, token_count=len(enc.ids), truncated=enc.truncated,
                model_revision=self.model_revision, gating=gates,
            ))
        return ScoredChunk(results=results, tokens=sum(r.token_count for r in results))

    def close(self) -> None:
        if self._hook is not None:
            self._hook.remove()
        self.model = None
        self._free_cuda()
