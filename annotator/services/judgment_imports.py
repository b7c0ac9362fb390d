"""Judgment import: existing human labels, all or nothing per file, by named external annotators.

A judgment file (annotator/judgment_formats.py) names items by their external id and annotators by
name. Each name becomes an account `imported/<name>` that cannot log in (inactive, no usable
password), so imported labels are attributed to their source and never to a real user; agreement,
Insights and the exports read them like any judgment. Each judgment gets a submitted assignment
(the judgment model's provenance), and the items' counters, open flags and disagreement are kept
exact, under the same item row locks the queue takes.

Re-importing is idempotent: a judgment that is already there unchanged is left alone, a changed
one is updated in place (only imported annotators' judgments can be, as nobody else has that name).
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from config.db import bulk_insert, bulk_update
from config.errors import ConflictError
from config.ids import parse_id
from rubrics.models import Criterion, RubricSet, RubricVersion

from ..formats import HS2_ATTRIBUTES, ParsedJudgment, fail_at_line
from ..judgment_formats import IMPORTED_PREFIX, JudgmentLine, judgments_parse
from ..models import Assignment, CriterionJudgment, Item, Judgment, Project, Response
from .judgments import item_disagreement

HELPSTEER2_RUBRIC = Path(settings.BASE_DIR) / "rubrics" / "builtin" / "helpsteer2.json"
_BATCH = 5000


@dataclass
class JudgmentImportReport:
    format: str = ""
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    annotators: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"format": self.format, "total": self.total, "created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "annotators": self.annotators}


# --- Who and against what ---------------------------------------------------------------------


def imported_username(name: str) -> str:
    return name if name.startswith(IMPORTED_PREFIX) else IMPORTED_PREFIX + name


def imported_annotators(*, names: list[str]) -> dict[str, int]:
    """name → user id of the accounts `imported/<name>`, created inactive and without a usable
    password on first use. A name held by an account that can log in is refused."""
    User = get_user_model()
    usernames = {name: imported_username(name) for name in names}
    existing = {u.username: u for u in User.objects.filter(username__in=usernames.values())}
    for user in existing.values():
        if user.is_active and user.has_usable_password():
            raise ConflictError(f"The account {user.username!r} belongs to a real user; rename the annotator.",
                                fields={"annotator": "taken"})
    missing = sorted(set(usernames.values()) - set(existing))
    if missing:
        try:
            with transaction.atomic():
                User.objects.bulk_create([User(username=u, is_active=False, password=make_password(None))
                                          for u in missing])
        except IntegrityError:
            raise ConflictError("Annotators were created by another import at the same time; import again.")
    ids = dict(User.objects.filter(username__in=usernames.values()).values_list("username", "id"))
    return {name: ids[username] for name, username in usernames.items()}


def helpsteer2_rubric_version() -> RubricVersion:
    """The published version of the shipped HelpSteer2 rubric (rubrics/builtin/helpsteer2.json):
    five Likert criteria keyed by HelpSteer2's attributes. Created on first use."""
    from rubrics.services import rubric_set_create_from_document

    document = json.loads(HELPSTEER2_RUBRIC.read_text(encoding="utf-8"))
    slug = document["rubric_set"]["slug"]
    versions = RubricVersion.objects.filter(rubric_set__slug=slug).exclude(status=RubricVersion.Status.DRAFT)
    for version in versions.order_by("-number"):
        criteria = dict(version.criteria.values_list("key", "scale"))
        if criteria == dict.fromkeys(HS2_ATTRIBUTES, Criterion.Scale.LIKERT5):
            return version
    if RubricSet.objects.filter(slug=slug).exists() and not versions.exists():
        raise ConflictError(f"The rubric set {slug!r} has no published version with HelpSteer2's five Likert "
                            "criteria; publish one (or rename that set) and import again.")
    return rubric_set_create_from_document(document=document, actor=None, publish=True)


def _rubric_versions(project: Project, lines: list[JudgmentLine]) -> dict[str | None, RubricVersion | None]:
    """Each rubric a line names ("slug@vN", "helpsteer2", or None for the project's) → its version."""
    wanted: dict[str | None, int] = {}
    for entry in lines:
        wanted.setdefault(entry.judgment.rubric, entry.judgment.line)
    out: dict[str | None, RubricVersion | None] = {}
    for name, line in wanted.items():
        if name is None:
            out[None] = project.rubric_version
        elif name == "helpsteer2":
            out[name] = helpsteer2_rubric_version()
        else:
            slug, _, number = name.rpartition("@v")
            version = (RubricVersion.objects.filter(rubric_set__slug=slug, number=parse_id(number))
                       .exclude(status=RubricVersion.Status.DRAFT).first() if slug and parse_id(number) else None)
            if version is None:
                fail_at_line(line, "rubric_version", f"no published rubric version {name!r} "
                             '(write "<rubric set slug>@v<number>")')
            out[name] = version
    return out


# --- Checking each judgment against its item ---------------------------------------------------


@dataclass
class _Resolved:
    item_id: int
    annotator: str
    rubric_version_id: int | None
    preference: int | None
    both_bad: bool
    ranking: list[int]
    scores: dict[tuple[int, int], float]
    rationale: str
    time_spent_ms: int
    submitted_at: object
    shown_order: list[int]
    line: int

    def same_as(self, judgment: Judgment, scores: dict[tuple[int, int], float]) -> bool:
        return (judgment.rubric_version_id == self.rubric_version_id and judgment.preference == self.preference
                and judgment.both_bad == self.both_bad and list(judgment.ranking) == self.ranking
                and judgment.rationale == self.rationale and scores == self.scores)


def _scale_problem(criterion: Criterion, value: float) -> str | None:
    if criterion.scale == Criterion.Scale.BINARY:
        return None if value in (0, 1) else "must be 0 or 1 (binary criterion)"
    if criterion.scale == Criterion.Scale.LIKERT5:
        return None if value in (1, 2, 3, 4, 5) else "must be 1 to 5 (Likert criterion)"
    lo, hi = sorted((0.0, float(criterion.points)))
    return None if lo <= value <= hi else f"must be between {lo:g} and {hi:g} points"


def _response_key(key, positions: list[tuple[int, str]], line: int, path: str) -> int:
    """A response named by its 1-based position (int) or its external id (str) → its pk."""
    if isinstance(key, int):
        if not 1 <= key <= len(positions):
            fail_at_line(line, path, f"no response {key}: the item has {len(positions)}")
        return positions[key - 1][0]
    for pk, ext in positions:
        if ext == key:
            return pk
    fail_at_line(line, path, f"no response with id {key!r} in this item")


def _resolve(entry: JudgmentLine, item_id: int, positions: list[tuple[int, str]],
             version: RubricVersion | None, criteria: dict[str, Criterion]) -> _Resolved:
    j: ParsedJudgment = entry.judgment
    line = j.line
    if entry.response_ids is not None and entry.response_ids != [ext for _, ext in positions]:
        fail_at_line(line, "response_ids", f"item {entry.item_id!r} has responses {[e for _, e in positions]} here, "
                     f"not {entry.response_ids}")
    ranking = [_response_key(r, positions, line, f"ranking[{i}]") for i, r in enumerate(j.ranking)]
    scores = {}
    for i, ((response, key), value) in enumerate(j.scores.items()):
        path = "scores" if j.rubric == "helpsteer2" else f"scores[{i}]"
        criterion = criteria.get(key)
        if criterion is None:
            where = (f"rubric {version.rubric_set.slug}@v{version.number}" if version is not None
                     else "this project (it has no rubric; name rubric_version)")
            fail_at_line(line, f"{path}.criterion", f"{key!r} is not a criterion of {where}")
        problem = _scale_problem(criterion, value)
        if problem:
            fail_at_line(line, f"{path}.value", f"{key}: {problem}")
        scores[(_response_key(response, positions, line, f"{path}.response"), criterion.id)] = value
    preference = j.preference
    if len(positions) == 2:
        if ranking:  # a pair's ranking only restates the preference (the judgments export writes both)
            top = ranking[0] == positions[0][0]
            if preference is not None and preference != 0 and (preference < 0) != top:
                fail_at_line(line, "ranking", "disagrees with the preference")
            ranking = []
        if preference is None and not j.both_bad and not scores:
            fail_at_line(line, "preference", "required: −3..3 (or both_bad, or scores)")
    else:
        if preference is not None:
            fail_at_line(line, "preference", "items with more than two responses are ranked (ranking), not compared")
        if ranking and len(ranking) != len(positions):
            fail_at_line(line, "ranking", f"rank every response of the item ({len(positions)}) exactly once")
        if not ranking and not j.both_bad and not scores:
            fail_at_line(line, "ranking", "required (or both_bad, or scores)")
    submitted_at = j.submitted_at or timezone.now()
    return _Resolved(item_id=item_id, annotator=j.annotator,
                     rubric_version_id=version.pk if version is not None else None, preference=preference,
                     both_bad=j.both_bad, ranking=ranking, scores=scores, rationale=j.rationale.strip(),
                     time_spent_ms=j.time_spent_ms, submitted_at=submitted_at,
                     shown_order=[pk for pk, _ in positions], line=line)


# --- Writing ----------------------------------------------------------------------------------


def judgments_write(*, project: Project, lines: list[JudgmentLine]) -> JudgmentImportReport:
    """Check every judgment against its item and rubric, then store them all (or nothing)."""
    with transaction.atomic():
        # One import per project at a time (as items_write); item rows are locked below.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        return _write(project, lines)


def _write(project: Project, lines: list[JudgmentLine]) -> JudgmentImportReport:
    report = JudgmentImportReport(total=len(lines))
    external_ids = sorted({entry.item_id for entry in lines})
    items: dict[str, int] = {}
    for start in range(0, len(external_ids), _BATCH):
        items.update(Item.objects.filter(project=project, external_id__in=external_ids[start:start + _BATCH])
                     .values_list("external_id", "id"))
    for entry in lines:
        if entry.item_id not in items:
            fail_at_line(entry.judgment.line, "item_id", f"no item {entry.item_id!r} in this project "
                         "(import the items first)")
    item_pks = sorted(set(items.values()))
    # The queue's lock order: items (by id), then assignments. Nobody leases or submits these
    # items while their judgments and counters change.
    for start in range(0, len(item_pks), _BATCH):
        list(Item.objects.select_for_update().filter(pk__in=item_pks[start:start + _BATCH]).order_by("pk")
             .values_list("pk", flat=True))
    positions: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for start in range(0, len(item_pks), _BATCH):
        for item_id, pk, ext in (Response.objects.filter(item_id__in=item_pks[start:start + _BATCH])
                                 .order_by("item_id", "position", "id").values_list("item_id", "id", "external_id")):
            positions[item_id].append((pk, ext))
    versions = _rubric_versions(project, lines)
    criteria_by_version: dict[int | None, dict[str, Criterion]] = {None: {}}
    for version in versions.values():
        if version is not None and version.pk not in criteria_by_version:
            criteria_by_version[version.pk] = {c.key: c for c in version.criteria.all()}
    resolved = []
    for entry in lines:
        version = versions[entry.judgment.rubric]
        resolved.append(_resolve(entry, items[entry.item_id], positions[items[entry.item_id]], version,
                                 criteria_by_version[version.pk if version is not None else None]))

    annotators = imported_annotators(names=sorted({r.annotator for r in resolved}))
    report.annotators = sorted(imported_username(n) for n in annotators)
    existing: dict[tuple[int, int], Judgment] = {}
    for start in range(0, len(item_pks), _BATCH):
        for judgment in Judgment.objects.filter(item_id__in=item_pks[start:start + _BATCH],
                                                annotator_id__in=annotators.values()):
            existing[(judgment.item_id, judgment.annotator_id)] = judgment
    existing_scores: dict[int, dict[tuple[int, int], float]] = defaultdict(dict)
    judgment_ids = [j.pk for j in existing.values()]
    for start in range(0, len(judgment_ids), _BATCH):
        for jid, rid, cid, value in CriterionJudgment.objects.filter(
                judgment_id__in=judgment_ids[start:start + _BATCH]).values_list(
                "judgment_id", "response_id", "criterion_id", "value"):
            existing_scores[jid][(rid, cid)] = value

    new, changed = [], []
    for r in resolved:
        current = existing.get((r.item_id, annotators[r.annotator]))
        if current is None:
            new.append(r)
        elif r.same_as(current, existing_scores[current.pk]):
            report.unchanged += 1
        else:
            changed.append((r, current))
    _create(new, annotators)
    _update(changed)
    report.created, report.updated = len(new), len(changed)
    if new:
        _recount(item_pks, project)
    return report


def _score_rows(judgment_id: int, scores: dict[tuple[int, int], float]) -> list[dict]:
    return [{"judgment_id": judgment_id, "response_id": rid, "criterion_id": cid, "value": value}
            for (rid, cid), value in scores.items()]


def _create(new: list[_Resolved], annotators: dict[str, int]) -> None:
    for start in range(0, len(new), _BATCH):
        batch = new[start:start + _BATCH]
        assignment_ids = bulk_insert(Assignment, [
            {"item_id": r.item_id, "annotator_id": annotators[r.annotator], "status": Assignment.Status.SUBMITTED,
             "leased_at": r.submitted_at, "lease_expires_at": r.submitted_at, "submitted_at": r.submitted_at,
             "shown_order": r.shown_order} for r in batch])
        judgment_ids = bulk_insert(Judgment, [
            {"assignment_id": aid, "item_id": r.item_id, "annotator_id": annotators[r.annotator],
             "rubric_version_id": r.rubric_version_id, "preference": r.preference, "both_bad": r.both_bad,
             "ranking": r.ranking, "rationale": r.rationale, "time_spent_ms": r.time_spent_ms,
             "submitted_at": r.submitted_at} for aid, r in zip(assignment_ids, batch, strict=True)])
        bulk_insert(CriterionJudgment, [row for jid, r in zip(judgment_ids, batch, strict=True)
                                        for row in _score_rows(jid, r.scores)])


def _update(changed: list[tuple[_Resolved, Judgment]]) -> None:
    if not changed:
        return
    now = timezone.now()
    bulk_update(Judgment, [
        {"id": j.pk, "rubric_version_id": r.rubric_version_id, "preference": r.preference, "both_bad": r.both_bad,
         "ranking": r.ranking, "rationale": r.rationale, "time_spent_ms": r.time_spent_ms,
         "submitted_at": r.submitted_at, "updated_at": now} for r, j in changed],
        ["rubric_version_id", "preference", "both_bad", "ranking", "rationale", "time_spent_ms", "submitted_at",
         "updated_at"])
    CriterionJudgment.objects.filter(judgment_id__in=[j.pk for _, j in changed]).delete()
    bulk_insert(CriterionJudgment, [row for r, j in changed for row in _score_rows(j.pk, r.scores)])
    # A changed verdict can change the item's disagreement; the stamp tells incremental exports.
    item_ids = {j.item_id for _, j in changed}
    Item.objects.filter(pk__in=item_ids).update(updated_at=now)
    for item in Item.objects.filter(pk__in=item_ids, submitted_count__gte=2):
        reasons = item_disagreement(item=item)
        Item.objects.filter(pk=item.pk).update(disagreement=reasons, has_disagreement=bool(reasons))


def _recount(item_pks: list[int], project: Project) -> None:
    """Counters, open flags and disagreement of the items, from their judgments (rows locked)."""
    now = timezone.now()
    rows = []
    for start in range(0, len(item_pks), _BATCH):
        counts = dict(Judgment.objects.filter(item_id__in=item_pks[start:start + _BATCH]).values("item_id")
                      .annotate(n=Count("id")).values_list("item_id", "n"))
        items = Item.objects.filter(pk__in=item_pks[start:start + _BATCH]).only("pk", "project_id")
        for item in items:
            n = counts.get(item.pk, 0)
            reasons = item_disagreement(item=item) if n >= 2 else []
            rows.append({"id": item.pk, "submitted_count": n, "is_open": n < project.overlap,
                         "disagreement": reasons, "has_disagreement": bool(reasons), "updated_at": now})
    bulk_update(Item, rows, ["submitted_count", "is_open", "disagreement", "has_disagreement", "updated_at"])


def judgments_import(*, project: Project, stream: IO, file_format: str = "auto") -> JudgmentImportReport:
    """Parse the whole judgment file, then write it in one transaction: nothing is stored if a line
    (or a judgment's check against its item and rubric) is bad."""
    from .imports import read_buffered  # imports.py imports this module

    parsed_format, lines = judgments_parse(read_buffered(stream), file_format)
    report = judgments_write(project=project, lines=lines)
    report.format = parsed_format
    return report


def judgments_import_text(*, project: Project, text: str, file_format: str = "auto") -> JudgmentImportReport:
    """judgments_import for a string (tests, small API bodies)."""
    return judgments_import(project=project, stream=io.BytesIO(text.encode("utf-8")), file_format=file_format)


def item_judgments_write(*, project: Project, items: list) -> JudgmentImportReport | None:
    """The judgments that came inside an item file (HelpSteer2's ratings), after its items are written
    (called by items_write, inside its transaction)."""
    lines = [JudgmentLine(item.external_id, j) for item in items for j in item.judgments]
    if not lines:
        return None
    return _write(project, lines)
