"""Every write of the scoring app: scorers, runs (start, cancel, retry) and the worker's side
(claim a batch, score it, write the results, finish the run, requeue what a dead worker held).

Idempotency first: batches are claimed with a conditional UPDATE and a lease; results are bulk
upserts on the unique keys; run counters are recomputed from the batches, never incremented. So a
batch run twice (a redelivered message, a worker killed half-way) writes the same rows again and
counts nothing twice.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import socket
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotator.access import require_site_admin
from annotator.models import Project, ProjectMembership, Response
from config.errors import ApplicationError, ConflictError, NotFoundError

from . import conf
from .backends import BackendError, ScorerSpec, backend_for
from .backends.base import CriterionSpec, ScoredChunk, ScoreInput, ScoringContext
from .definitions import DEFAULT_UNPARSED_POLICY, UNPARSED_POLICIES
from .models import CriterionScore, PairwiseScore, ResponseScore, Scorer, ScoringBatch, ScoringRun

log = logging.getLogger(__name__)

Status = ScoringRun.Status
BatchStatus = ScoringBatch.Status
ACTIVE = (Status.QUEUED, Status.RUNNING)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_JUDGE_OPTION_KEYS = {
    "base_url", "api_key_env", "mode", "temperature", "max_tokens", "timeout", "max_retries", "retry_backoff",
    "concurrency", "parse_retries", "result_pass_threshold", "extra_body", "unparsed_policy", "logprobs",
    "top_logprobs",
}
_HF_OPTION_KEYS = {"input_format", "main_component", "component_names", "device", "local_files_only",
                   "batch_overhead_tokens", "pooling", "weights", "weights_preset", "token_budget"}



# --- scorers -----------------------------------------------------------------------------------------
def _validate_scorer(*, backend: str, model: str, dtype: str, max_length: int, batch_token_budget: int,
                     trust_remote_code: bool, options: dict) -> dict:
    """Checks a scorer's settings; returns the cleaned options. Raises ApplicationError(fields=…)."""
    fields: dict[str, str] = {}
    if backend not in Scorer.Backend.values:
        fields["backend"] = f"one of {', '.join(Scorer.Backend.values)}"
    if dtype not in Scorer.Dtype.values:
        fields["dtype"] = f"one of {', '.join(Scorer.Dtype.values)}"
    if not isinstance(options, dict):
        raise ApplicationError("Options must be a JSON object.", fields={"options": "a JSON object"})
    options = dict(options)
    if max_length < 8 or max_length > 1_048_576:
        fields["max_length"] = "between 8 and 1048576 tokens"
    if batch_token_budget < 1:
        fields["batch_token_budget"] = "a positive number of tokens"  # noqa: S105 - not a password
    if trust_remote_code and backend != Scorer.Backend.HF_SEQUENCE_CLASSIFIER:
        fields["trust_remote_code"] = "only for Hugging Face models"
    if backend == Scorer.Backend.HF_SEQUENCE_CLASSIFIER:
        if not model.strip():
            fields["model"] = "a local path or a hub id is required"
        unknown = set(options) - _HF_OPTION_KEYS
        if unknown:
            fields["options"] = f"unknown option(s) for this backend: {', '.join(sorted(unknown))}"
        if options.get("input_format", "chat_template") not in ("chat_template", "pair"):
            fields["options.input_format"] = "chat_template or pair"
        if options.get("token_budget", "auto") not in ("auto", "fixed"):
            fields["options.token_budget"] = "auto (learned from free GPU memory) or fixed"  # noqa: S105
        names = options.get("component_names")
        if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
            fields["options.component_names"] = "a list of names"
        from .backends.hf import POOLINGS, WEIGHT_PRESETS

        if options.get("pooling", POOLINGS[0]) not in POOLINGS:
            fields["options.pooling"] = " or ".join(POOLINGS)
        weights = options.get("weights")
        if weights is not None and (not isinstance(weights, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in weights.values())):
            fields["options.weights"] = 'an object of component name → number, e.g. {"helpfulness": 0.5}'
        preset = options.get("weights_preset") or ""
        if preset and preset not in WEIGHT_PRESETS:
            fields["options.weights_preset"] = " or ".join(WEIGHT_PRESETS)
        if sum(bool(options.get(k)) for k in ("weights", "weights_preset", "main_component")) > 1:
            fields["options.weights"] = "one of main_component, weights or weights_preset"
    elif backend == Scorer.Backend.OPENAI_JUDGE:
        from .ssrf import check_judge_url

        if not model.strip():
            fields["model"] = "the judge model's name at the endpoint is required"
        unknown = set(options) - _JUDGE_OPTION_KEYS
        if unknown:
            fields["options"] = f"unknown option(s) for this backend: {', '.join(sorted(unknown))}"
        if options.get("mode", "criteria") not in ("criteria", "pairwise"):
            fields["options.mode"] = "criteria or pairwise"
        if options.get("unparsed_policy", DEFAULT_UNPARSED_POLICY) not in UNPARSED_POLICIES:
            fields["options.unparsed_policy"] = " or ".join(UNPARSED_POLICIES)
        if not isinstance(options.get("logprobs", True), bool):
            fields["options.logprobs"] = "true or false"
        key_env = str(options.get("api_key_env", "") or "")
        if key_env and not _ENV_NAME.match(key_env):
            fields["options.api_key_env"] = "the NAME of an environment variable (letters, digits, _)"
        elif key_env and not conf.judge_key_env_allowed(key_env):
            fields["options.api_key_env"] = (
                f"must start with {conf.judge_key_prefix()} or be listed in SCORING_JUDGE_KEY_VARIABLES"
                " (an operator's setting): no other variable is sent to a judge")
        for key, low, high in (("temperature", 0, 2), ("timeout", 1, 600), ("max_retries", 0, 10),
                               ("concurrency", 1, 64), ("max_tokens", 1, 131072), ("parse_retries", 0, 5),
                               ("top_logprobs", 1, 20)):
            if key in options:
                try:
                    value = float(options[key])
                except (TypeError, ValueError):
                    value = None
                if value is None or not low <= value <= high:
                    fields[f"options.{key}"] = f"a number from {low} to {high}"
        if not fields:
            try:
                check_judge_url(str(options.get("base_url", "")))
            except ApplicationError as exc:
                fields["options.base_url"] = exc.message
    elif backend == Scorer.Backend.LENGTH and options.get("unit", "chars") not in ("chars", "words"):
        fields["options.unit"] = "chars or words"
    if fields:
        first = next(iter(fields.items()))
        raise ApplicationError(f"{first[0]}: {first[1]}", fields=fields)
    return options


_SCORER_FIELDS = ("name", "backend", "model", "revision", "dtype", "max_length", "batch_token_budget",
                  "trust_remote_code", "options", "is_active")


def scorer_create(
    *, actor: AbstractBaseUser, name: str, backend: str, model: str = "", revision: str = "",
    dtype: str = Scorer.Dtype.AUTO, max_length: int = 4096, batch_token_budget: int = 16384,
    trust_remote_code: bool = False, options: dict | None = None, is_active: bool = True,
) -> Scorer:
    """Create a scorer (site admins only). Judge URLs are checked against SSRF here and again per request."""
    require_site_admin(actor, "manage scorers")
    name = name.strip()
    if not name:
        raise ApplicationError("A scorer needs a name.", fields={"name": "required"})
    options = _validate_scorer(backend=backend, model=model, dtype=dtype, max_length=max_length,
                               batch_token_budget=batch_token_budget, trust_remote_code=trust_remote_code,
                               options=options or {})
    try:
        with transaction.atomic():
            return Scorer.objects.create(
                name=name, backend=backend, model=model.strip(), revision=revision.strip(), dtype=dtype,
                max_length=max_length, batch_token_budget=batch_token_budget,
                trust_remote_code=trust_remote_code, options=options, is_active=is_active, created_by=actor,
            )
    except IntegrityError as exc:
        raise ConflictError(f"A scorer named {name!r} exists already.", fields={"name": "taken"}) from exc


def scorer_update(*, scorer: Scorer, actor: AbstractBaseUser, **changes) -> Scorer:
    """Change a scorer's settings (site admins only). Runs already started keep their snapshot."""
    require_site_admin(actor, "manage scorers")
    unknown = set(changes) - set(_SCORER_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown scorer field(s): {', '.join(sorted(unknown))}.")
    values = {f: changes.get(f, getattr(scorer, f)) for f in _SCORER_FIELDS}
    values["name"] = str(values["name"]).strip()
    if not values["name"]:
        raise ApplicationError("A scorer needs a name.", fields={"name": "required"})
    values["options"] = _validate_scorer(
        backend=values["backend"], model=values["model"], dtype=values["dtype"], max_length=values["max_length"],
        batch_token_budget=values["batch_token_budget"], trust_remote_code=values["trust_remote_code"],
        options=values["options"] or {},
    )
    for field, value in values.items():
        setattr(scorer, field, value)
    try:
        with transaction.atomic():
            scorer.save()
    except IntegrityError as exc:
        raise ConflictError(f"A scorer named {values['name']!r} exists already.", fields={"name": "taken"}) from exc
    return scorer


def scorer_spec(scorer: Scorer) -> ScorerSpec:
    return ScorerSpec(
        id=scorer.pk, name=scorer.name, backend=scorer.backend, model=scorer.model, revision=scorer.revision,
        dtype=scorer.dtype, max_length=scorer.max_length, batch_token_budget=scorer.batch_token_budget,
        trust_remote_code=scorer.trust_remote_code, options=dict(scorer.options or {}),
    )


# --- runs ---------------------------------------------------------------------------------------------
def _require_project_admin(*, project: Project, actor: AbstractBaseUser) -> None:
    is_admin = actor.is_authenticated and ProjectMembership.objects.filter(
        project=project, user=actor, role=ProjectMembership.Role.ADMIN
    ).exists()
    if not is_admin:
        raise NotFoundError("No such project.")


def _split_into_batches(rows: list[tuple[int, int]], *, size: int) -> list[list[int]]:
    """(response id, item id) rows in item order → lists of response ids, cut at item boundaries
    (a pairwise judge needs all responses of an item in one batch)."""
    batches: list[list[int]] = []
    current: list[int] = []
    previous_item = None
    for response_id, item_id in rows:
        if len(current) >= size and item_id != previous_item:
            batches.append(current)
            current = []
        current.append(response_id)
        previous_item = item_id
    if current:
        batches.append(current)
    return batches


def _enqueue_batches(batch_ids: list[int]) -> None:
    """Send the batches' messages once the transaction commits. Never raises: with the broker down
    the batches stay unsent in the database and the reconciler sends them when it is back."""
    transaction.on_commit(lambda: scoring_batches_send(batch_ids=batch_ids))


def _claim_for_sending(batches) -> list[int]:
    """Stamp `sent_at` on the batches of `batches` (a queryset) that are still pending, skipping rows
    another sender holds: two senders (the web process, the watchdogs of several workers) never
    send the same batch in the same round."""
    now = timezone.now()
    with transaction.atomic():
        locked = batches.filter(status=BatchStatus.PENDING, run__status__in=ACTIVE).order_by("pk")
        if connection.features.has_select_for_update_skip_locked:
            locked = locked.select_for_update(skip_locked=True, of=("self",))
        ids = list(locked.values_list("pk", flat=True))
        if ids:
            ScoringBatch.objects.filter(pk__in=ids).update(sent_at=now)
    return ids


def _publish(batch_ids: list[int]) -> list[int]:
    """Hand one message per batch to the broker. Stops at the first broker error (it is down: the
    rest would fail the same way) and returns the ids sent; the unsent get `sent_at` cleared, so the
    next reconcile sends them."""
    from config.celery import send_task_message

    from .tasks import score_batch

    sent: list[int] = []
    for batch_id in batch_ids:
        if not send_task_message(score_batch, batch_id):
            break
        sent.append(batch_id)
    unsent = batch_ids[len(sent):]
    if unsent:
        ScoringBatch.objects.filter(pk__in=unsent, status=BatchStatus.PENDING).update(sent_at=None)
    return sent


def scoring_batches_send(*, batch_ids: list[int]) -> list[int]:
    """Send these batches' messages now (those still pending and not held by another sender)."""
    return _publish(_claim_for_sending(ScoringBatch.objects.filter(pk__in=batch_ids)))


def scoring_run_start(
    *, project: Project, scorer: Scorer, actor: AbstractBaseUser, scope: str = ScoringRun.Scope.ALL,
) -> ScoringRun:
    """Start scoring a project's responses with `scorer`: create the run and its batches and
    enqueue them on the `gpu` queue once the transaction commits.

    `scope`: "all" responses, or "unscored" (those without a score from this scorer yet; for a
    pairwise judge, every response of an item that has an unscored one). Project admins only.
    """
    _require_project_admin(project=project, actor=actor)
    if scope not in ScoringRun.Scope.values:
        raise ApplicationError("Scope must be all or unscored.", fields={"scope": "all or unscored"})
    if not scorer.is_active:
        raise ApplicationError(f"The scorer {scorer.name} is disabled.", fields={"scorer": "disabled"})
    spec = scorer_spec(scorer)
    judge = scorer.backend == Scorer.Backend.OPENAI_JUDGE
    pairwise = judge and spec.options.get("mode", "criteria") == "pairwise"
    if judge and not pairwise and project.rubric_version_id is None:
        raise ApplicationError("A criteria judge needs the project's rubric; this project has none.",
                               fields={"scorer": "needs a rubric"})
    responses = Response.objects.filter(item__project=project)
    if scope == ScoringRun.Scope.UNSCORED:
        scored = ResponseScore.objects.filter(scorer=scorer).values("response_id")
        if pairwise:
            open_items = Response.objects.filter(item__project=project).exclude(id__in=scored).values("item_id")
            responses = responses.filter(item_id__in=open_items)
        else:
            responses = responses.exclude(id__in=scored)
    rows = list(responses.order_by("item_id", "position", "id").values_list("id", "item_id"))
    if not rows:
        message = ("Every response already has a score from this scorer." if scope == ScoringRun.Scope.UNSCORED
                   else "This project has no responses to score yet.")
        raise ApplicationError(message, code="nothing_to_score")
    chunks = _split_into_batches(rows, size=conf.responses_per_batch(judge=judge))
    try:
        with transaction.atomic():
            run = ScoringRun.objects.create(
                project=project, scorer=scorer, scope=scope, status=Status.QUEUED, total=len(rows),
                scorer_config=spec.to_dict(), created_by=actor,
            )
            batches = ScoringBatch.objects.bulk_create(
                [ScoringBatch(run=run, index=i, response_ids=ids) for i, ids in enumerate(chunks)]
            )
            _enqueue_batches([b.pk for b in batches])
    except IntegrityError as exc:
        raise ConflictError(
            f"{scorer.name} is already scoring this project: wait for that run or cancel it.",
            code="run_active",
        ) from exc
    return run


def scoring_run_cancel(*, run: ScoringRun, actor: AbstractBaseUser) -> ScoringRun:
    """Cancel a queued or running run: no further batch starts; a running one stops after its
    current micro-batch. What was scored stays."""
    _require_project_admin(project=run.project, actor=actor)
    now = timezone.now()
    with transaction.atomic():
        changed = ScoringRun.objects.filter(pk=run.pk, status__in=ACTIVE).update(
            status=Status.CANCELLED, finished_at=now, updated_at=now
        )
        if not changed:
            run.refresh_from_db()
            raise ConflictError(f"This run is {run.get_status_display().lower()} already.", code="run_finished")
        ScoringBatch.objects.filter(run=run, status=BatchStatus.PENDING).update(status=BatchStatus.CANCELLED)
    run.refresh_from_db()
    return run


def scoring_run_retry(*, run: ScoringRun, actor: AbstractBaseUser) -> ScoringRun:
    """Retry, in whatever state the run is.

    A finished run (done with failures, failed, cancelled): re-run what this run did not score (its
    failed responses, and those a cancel or a crash left) as new batches of the same run; responses
    deleted meanwhile are dropped. Scores from earlier runs do not count as done: the run redoes its
    own scope. A queued or running run: send its pending batches again now, and take back batches
    whose worker's lease ran out (a nudge; redelivered messages are harmless, claims are conditional).
    """
    _require_project_admin(project=run.project, actor=actor)
    if run.status in ACTIVE:
        requeued = scoring_batches_requeue_stale(run_id=run.pk)
        pending = ScoringBatch.objects.filter(run=run, status=BatchStatus.PENDING).exclude(pk__in=requeued)
        if not requeued and not pending.exists():
            raise ConflictError("This run's workers are on its last batches: nothing is waiting to be sent.",
                                code="run_active")
        _publish(_claim_for_sending(pending))
        run.refresh_from_db()
        return run
    with transaction.atomic():
        run = ScoringRun.objects.select_for_update().get(pk=run.pk)
        if run.status in ACTIVE:
            raise ConflictError("This run started again meanwhile.", code="run_active")
        # Every batch that did not finish cleanly; in a finished run pending or running ones never will.
        old = list(run.batches.exclude(status=BatchStatus.RETRIED)
                   .exclude(Q(status=BatchStatus.DONE) & Q(errors={})))
        candidates = {rid for b in old for rid in b.response_ids}
        # Scored by this run (an upsert sets `run`); a score from another run does not count.
        scored = set(ResponseScore.objects.filter(run=run, response_id__in=candidates)
                     .values_list("response_id", flat=True))
        wanted: list[int] = []
        for batch in old:
            wanted.extend(rid for rid in batch.response_ids if str(rid) in batch.errors or rid not in scored)
        existing = set(Response.objects.filter(id__in=wanted, item__project=run.project).values_list("id", flat=True))
        wanted = [rid for rid in dict.fromkeys(wanted) if rid in existing]
        if not wanted:
            raise ApplicationError("Nothing failed in this run: there is nothing to retry.", code="nothing_to_retry")
        rows = list(Response.objects.filter(id__in=wanted).order_by("item_id", "position", "id")
                    .values_list("id", "item_id"))
        judge = run.scorer_config.get("backend") == Scorer.Backend.OPENAI_JUDGE
        next_index = (run.batches.order_by("-index").values_list("index", flat=True).first() or 0) + 1
        ScoringBatch.objects.filter(pk__in=[b.pk for b in old]).update(status=BatchStatus.RETRIED,
                                                                       lease_expires_at=None)
        batches = ScoringBatch.objects.bulk_create([
            ScoringBatch(run=run, index=next_index + i, response_ids=ids)
            for i, ids in enumerate(_split_into_batches(rows, size=conf.responses_per_batch(judge=judge)))
        ])
        try:
            with transaction.atomic():
                ScoringRun.objects.filter(pk=run.pk).update(
                    status=Status.QUEUED, finished_at=None, error="", updated_at=timezone.now()
                )
        except IntegrityError as exc:
            raise ConflictError("Another run of this scorer is going on this project.", code="run_active") from exc
        _refresh_counters(run.pk)
        _enqueue_batches([b.pk for b in batches])
    run.refresh_from_db()
    return run


# --- the worker's side ------------------------------------------------------------------------------
def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def scoring_batch_claim(*, batch_id: int, worker: str) -> ScoringBatch | None:
    """Take a batch: pending, or running under an expired lease (its worker died), or already
    ours (a retry of our own task). A conditional UPDATE, so two workers never both win.
    The attempt's counters start from zero: everything is recomputed as it is rewritten."""
    now = timezone.now()
    claimable = Q(status=BatchStatus.PENDING) | Q(status=BatchStatus.RUNNING) & (
        Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True) | Q(worker=worker)
    )
    won = ScoringBatch.objects.filter(claimable, pk=batch_id, run__status__in=ACTIVE).update(
        status=BatchStatus.RUNNING, worker=worker, attempts=F("attempts") + 1, started_at=now, finished_at=None,
        lease_expires_at=now + timedelta(seconds=conf.batch_lease_seconds()),
        done=0, failed=0, tokens=0, parse_failures=0, errors={}, error="",
    )
    if not won:
        return None
    ScoringRun.objects.filter(pk=ScoringBatch.objects.filter(pk=batch_id).values("run_id")[:1],
                              status=Status.QUEUED).update(status=Status.RUNNING, started_at=now, updated_at=now)
    return ScoringBatch.objects.select_related("run__project", "run__scorer").get(pk=batch_id)


def _inputs_for(batch: ScoringBatch) -> tuple[list[ScoreInput], list[int]]:
    """Inputs in the batch's order, and the ids whose response no longer exists."""
    rows = {r.id: r for r in Response.objects.filter(id__in=batch.response_ids).select_related("item")}
    inputs, missing = [], []
    for rid in batch.response_ids:
        r = rows.get(rid)
        if r is None:
            missing.append(rid)
            continue
        prompt = r.item.prompt if isinstance(r.item.prompt, list) else [{"role": "user", "content": str(r.item.prompt)}]
        inputs.append(ScoreInput(response_id=r.id, item_id=r.item_id, prompt=prompt, response=r.content,
                                 position=r.position))
    return inputs, missing


def _criteria_for(run: ScoringRun) -> list[CriterionSpec]:
    version_id = run.project.rubric_version_id
    if version_id is None:
        return []
    from rubrics.models import Criterion

    return [CriterionSpec(id=c.id, key=c.key, title=c.title, guidance=c.guidance, points=c.points)
            for c in Criterion.objects.filter(version_id=version_id).order_by("position", "id")]


def _write_chunk(*, chunk: ScoredChunk, run: ScoringRun, scorer_id: int) -> None:
    """Bulk upserts on the unique keys: writing the same chunk twice changes nothing."""
    scores = [
        ResponseScore(response_id=r.response_id, scorer_id=scorer_id, input_hash=r.input_hash, value=r.value,
                      components=r.components, gating=r.gating, unparsed_criteria=r.unparsed_criteria,
                      token_count=r.token_count, truncated=r.truncated, model_revision=r.model_revision[:200],
                      run=run)
        for r in chunk.results if r.ok
    ]
    criteria = [
        CriterionScore(response_id=r.response_id, criterion_id=v.criterion_id, scorer_id=scorer_id, met=v.met,
                       score=v.score, explanation=v.explanation, raw_output=v.raw_output,
                       parse_status=v.parse_status, distribution=v.distribution, expected_score=v.expected_score,
                       run=run)
        for r in chunk.results for v in r.criteria
    ]
    pairs = [
        PairwiseScore(item_id=p.item_id, response_a_id=p.response_a, response_b_id=p.response_b,
                      scorer_id=scorer_id, input_hash=p.input_hash, verdict_ab=p.verdict_ab,
                      verdict_ba=p.verdict_ba, consistent=p.consistent, preference_a=p.preference_a,
                      raw_output_ab=p.raw_output_ab, raw_output_ba=p.raw_output_ba,
                      distribution_ab=p.distribution_ab, distribution_ba=p.distribution_ba,
                      expected_preference_a=p.expected_preference_a, parse_failures=p.parse_failures, run=run)
        for p in chunk.pairs
    ]
    with transaction.atomic():
        if scores:
            ResponseScore.objects.bulk_create(
                scores, update_conflicts=True, unique_fields=["response", "scorer", "input_hash"],
                update_fields=["value", "components", "gating", "unparsed_criteria", "token_count", "truncated",
                               "model_revision", "run"],
            )
        if criteria:
            CriterionScore.objects.bulk_create(
                criteria, update_conflicts=True, unique_fields=["response", "criterion", "scorer"],
                update_fields=["met", "score", "explanation", "raw_output", "parse_status", "distribution",
                               "expected_score", "run"],
            )
        if pairs:
            PairwiseScore.objects.bulk_create(
                pairs, update_conflicts=True, unique_fields=["scorer", "response_a", "response_b"],
                update_fields=["item", "input_hash", "verdict_ab", "verdict_ba", "consistent", "preference_a",
                               "raw_output_ab", "raw_output_ba", "distribution_ab", "distribution_ba",
                               "expected_preference_a", "parse_failures", "run", "updated_at"],
            )


def _refresh_counters(run_id: int) -> dict:
    """Run counters = sums over its batches (recomputed, so a redone batch never counts twice)."""
    agg = ScoringBatch.objects.filter(run_id=run_id).aggregate(
        done=Coalesce(Sum("done"), 0),
        failed=Coalesce(Sum("failed", filter=~Q(status=BatchStatus.RETRIED)), 0),
        tokens=Coalesce(Sum("tokens"), 0),
        parse_failures=Coalesce(Sum("parse_failures"), 0),
        open=Count("id", filter=Q(status__in=[BatchStatus.PENDING, BatchStatus.RUNNING])),
        broken=Count("id", filter=Q(status=BatchStatus.FAILED)),
    )
    ScoringRun.objects.filter(pk=run_id).update(
        done=agg["done"], failed=agg["failed"], tokens=agg["tokens"], parse_failures=agg["parse_failures"],
        updated_at=timezone.now(),
    )
    return agg


def scoring_run_finish_if_complete(*, run_id: int) -> None:
    """Close the run once no batch is pending or running: done, or failed when nothing scored."""
    agg = _refresh_counters(run_id)
    if agg["open"]:
        return
    status = Status.FAILED if agg["done"] == 0 and (agg["failed"] or agg["broken"]) else Status.DONE
    error = ""
    if status == Status.FAILED:
        error = (ScoringBatch.objects.filter(run_id=run_id).exclude(error="").values_list("error", flat=True)
                 .first() or "Every response failed.")
    ScoringRun.objects.filter(pk=run_id, status__in=ACTIVE).update(
        status=status, finished_at=timezone.now(), error=error, updated_at=timezone.now()
    )


def scoring_batch_execute(*, batch_id: int, worker: str | None = None) -> str:
    """Score one batch in this worker process; returns what happened ("done", "skipped", …).

    Results are written after every micro-batch (live progress; a crash loses at most one
    micro-batch of work), each write renewing the lease. If the lease was lost (this worker was
    too slow and another took over) or the run was cancelled, it stops quietly.
    """
    worker = worker or worker_identity()
    batch = scoring_batch_claim(batch_id=batch_id, worker=worker)
    if batch is None:
        return "skipped"
    run = batch.run
    spec = ScorerSpec.from_dict(run.scorer_config) if run.scorer_config else scorer_spec(run.scorer)
    inputs, missing = _inputs_for(batch)
    errors: dict[str, str] = {str(rid): "the response was deleted" for rid in missing}
    done = failed = tokens = parse_failures = 0
    failed += len(missing)
    lost = False

    def owned():
        return ScoringBatch.objects.filter(pk=batch.pk, status=BatchStatus.RUNNING, worker=worker)

    def should_stop() -> bool:
        return ScoringRun.objects.filter(pk=run.pk, status=Status.CANCELLED).exists()

    try:
        backend = backend_for(spec, keep=conf.hf_cache_models())
        context = ScoringContext(criteria=_criteria_for(run), should_stop=should_stop)
        for chunk in backend.score_chunks(inputs, context):
            _write_chunk(chunk=chunk, run=run, scorer_id=spec.id)
            for result in chunk.results:
                parse_failures += result.parse_failures
                if result.ok:
                    done += 1
                else:
                    failed += 1
                    errors[str(result.response_id)] = result.error[:500]
            parse_failures += sum(p.parse_failures for p in chunk.pairs)
            tokens += chunk.tokens
            renewed = owned().update(
                done=done, failed=failed, tokens=tokens, parse_failures=parse_failures, errors=errors,
                lease_expires_at=timezone.now() + timedelta(seconds=conf.batch_lease_seconds()),
            )
            if not renewed:
                lost = True
                break
            _refresh_counters(run.pk)
    except (OperationalError, InterfaceError):
        raise  # the database blinked: the task retries and reclaims its own batch
    except Exception as exc:
        # The backend cannot run (bad settings, model missing, a bug): every unscored response fails,
        # with the reason; "retry" runs them again once fixed.
        message = str(exc)[:2000] if isinstance(exc, BackendError) else f"{exc.__class__.__name__}: {exc}"[:2000]
        if not isinstance(exc, BackendError):
            log.exception("scoring batch %s crashed", batch.pk)
        log.warning("scoring batch %s failed: %s", batch.pk, message)
        scored = set(ResponseScore.objects.filter(run=run, response_id__in=batch.response_ids)
                     .values_list("response_id", flat=True))
        for rid in batch.response_ids:
            if rid not in scored:
                errors.setdefault(str(rid), message[:500])
        owned().update(status=BatchStatus.FAILED, error=message, errors=errors, done=len(scored),
                       failed=len(batch.response_ids) - len(scored), tokens=tokens, parse_failures=parse_failures,
                       finished_at=timezone.now(), lease_expires_at=None)
        scoring_run_finish_if_complete(run_id=run.pk)
        return "failed"
    if lost:
        return "lost-lease"
    # Stopped between micro-batches by a cancel: the rest of the batch stays unscored ("retry" runs it).
    cancelled = done + failed < len(batch.response_ids) and should_stop()
    owned().update(
        status=BatchStatus.CANCELLED if cancelled else BatchStatus.DONE, done=done, failed=failed, tokens=tokens,
        parse_failures=parse_failures, errors=errors, finished_at=timezone.now(), lease_expires_at=None,
    )
    scoring_run_finish_if_complete(run_id=run.pk)
    return "cancelled" if cancelled else "done"


def scoring_batches_requeue_stale(*, now=None, run_id: int | None = None) -> list[int]:
    """Batches still "running" after their lease ran out belonged to a worker that died. Put each
    back to pending (a conditional UPDATE, so one watchdog wins) and send it again. Batches of runs
    that ended meanwhile are cancelled instead; one that killed its worker too often fails."""
    now = now or timezone.now()
    stale = ScoringBatch.objects.filter(status=BatchStatus.RUNNING, lease_expires_at__lt=now)
    if run_id is not None:
        stale = stale.filter(run_id=run_id)
    ScoringBatch.objects.filter(pk__in=stale.exclude(run__status__in=ACTIVE).values("pk")).update(
        status=BatchStatus.CANCELLED, lease_expires_at=None
    )
    requeued, given_up = [], []
    for batch_id, attempts, run_id_ in stale.filter(run__status__in=ACTIVE).values_list("pk", "attempts", "run_id"):
        with transaction.atomic():
            mine = ScoringBatch.objects.filter(pk=batch_id, status=BatchStatus.RUNNING, lease_expires_at__lt=now)
            if attempts >= conf.batch_max_attempts():
                # A batch that kills its worker every time (a poison input, OOM-kill): stop trying.
                message = f"the worker died {attempts} times on this batch"
                batch = mine.first()
                if batch and mine.update(status=BatchStatus.FAILED, error=message, lease_expires_at=None,
                                         finished_at=now, failed=len(batch.response_ids) - batch.done,
                                         errors={str(r): message for r in batch.response_ids}):
                    given_up.append(run_id_)
                continue
            if mine.update(status=BatchStatus.PENDING, worker="", lease_expires_at=None, sent_at=None):
                requeued.append(batch_id)
    if requeued:
        scoring_batches_send(batch_ids=requeued)
    for run_id_ in given_up:
        scoring_run_finish_if_complete(run_id=run_id_)
    if requeued:
        log.warning("requeued %d scoring batch(es) whose worker died: %s", len(requeued), requeued)
    return requeued


def broker_waiting_messages() -> int | None:
    """Messages waiting in the scoring queue at the broker; None when the broker cannot say."""
    from config.celery import broker_waiting_messages as waiting
    from config.celery import queue_of

    from .tasks import score_batch

    return waiting(queue_of(score_batch))


@dataclass
class Reconciled:
    requeued: list[int] = dataclasses.field(default_factory=list)  # running under an expired lease → pending, sent
    sent: list[int] = dataclasses.field(default_factory=list)  # pending, never sent (the broker was down) → sent
    resent: list[int] = dataclasses.field(default_factory=list)  # pending, message lost at the broker → sent again
    finished: list[int] = dataclasses.field(default_factory=list)  # active runs with nothing left open → closed


def scoring_reconcile(*, now=None) -> Reconciled:
    """PostgreSQL is the truth for work to do; the broker only carries hints. Run by every worker's
    watchdog (config/celery.py; or the task `rubricate.reconcile` under celery beat). Each step is a
    conditional update, so any number of watchdogs may run it at once.

    1. Running batches whose lease ran out (their worker died) go back to pending and are sent.
    2. Pending batches never sent (the broker was down when the run started) are sent.
    3. Pending batches whose message was lost (the broker restarted empty, or a worker that had
       received it was killed before it began): pending batches sent more than
       SCORING_RESEND_SECONDS ago outnumber the messages waiting at the broker. The oldest-sent of
       them, as many as are missing, are sent again. Waiting messages that are still there keep
       their order: nothing is resent while the queue holds a message for every pending batch.
    4. Active runs with no pending or running batch left are closed (done or failed).
    """
    now = now or timezone.now()
    result = Reconciled(requeued=scoring_batches_requeue_stale(now=now))
    pending = ScoringBatch.objects.filter(status=BatchStatus.PENDING, run__status__in=ACTIVE)
    result.sent = _publish(_claim_for_sending(pending.filter(sent_at__isnull=True)))
    overdue = pending.filter(sent_at__lt=now - timedelta(seconds=conf.resend_seconds()))
    if overdue.exists():
        waiting = broker_waiting_messages()
        outstanding = pending.filter(sent_at__isnull=False).count()
        missing = outstanding - waiting if waiting is not None else 0
        if missing > 0:
            oldest = list(overdue.order_by("sent_at", "pk").values_list("pk", flat=True)[:missing])
            claimed = _claim_for_sending(ScoringBatch.objects.filter(pk__in=oldest, sent_at__lt=now - timedelta(
                seconds=conf.resend_seconds())))
            result.resent = _publish(claimed)
            if result.resent:
                log.warning("resent %d scoring batch(es) whose message was lost (%d pending, %d waiting at the "
                            "broker)", len(result.resent), outstanding, waiting)
    stuck = (ScoringRun.objects.filter(status__in=ACTIVE)
             .exclude(Exists(ScoringBatch.objects.filter(run=OuterRef("pk"),
                                                         status__in=[BatchStatus.PENDING, BatchStatus.RUNNING])))
             .values_list("pk", flat=True))
    for run_id in stuck:
        scoring_run_finish_if_complete(run_id=run_id)
        result.finished.append(run_id)
    return result
