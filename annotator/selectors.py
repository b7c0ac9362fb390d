"""Reads shared by views and the API. Every project read is scoped to the caller's memberships."""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from config.errors import NotFoundError
from config.markup import RENDERER_VERSION, render_markdown_many

from .access import ROLES_STAFF, has_role
from .models import Adjudication, Assignment, CriterionJudgment, Item, Judgment, Project, ProjectMembership, Response

Role = ProjectMembership.Role
Status = Assignment.Status
LETTERS = string.ascii_uppercase


def project_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Project]:
    """Projects the user belongs to, with item counts and the user's own progress (one query; the
    counts are the counters the triggers keep, so the cost does not grow with the projects' size)."""
    if not user.is_authenticated:
        return Project.objects.none()
    return (
        Project.objects.filter(memberships__user=user)
        .select_related("rubric_version__rubric_set")
        .annotate(
            my_role=F("memberships__role"),
            my_judged=F("memberships__judged_count"),
        )
        .order_by("name", "id")
    )


def _membership_of(project: Project, user: AbstractBaseUser) -> ProjectMembership | None:
    """The membership attached by project_get_for_user, else read (one query)."""
    membership = getattr(project, "membership", None)
    if membership is not None and membership.user_id == user.pk:
        return membership
    return ProjectMembership.objects.filter(project=project, user=user).first()


def project_progress(*, project: Project, user: AbstractBaseUser) -> dict:
    """Counts for the project page: items, judgments needed/done, mine (from the counters)."""
    membership = _membership_of(project, user)
    needed = project.item_count * project.overlap
    return {
        "items": project.item_count,
        "needed": needed,
        "submitted": project.judgment_count,
        "percent": min(100, round(100 * project.judgment_count / needed)) if needed else 0,
        "mine": membership.judged_count if membership else 0,
    }


# --- The queue -----------------------------------------------------------------------------------


def live_lease_filter(now: datetime) -> dict:
    """A lease is live while it is leased and has not run out."""
    return {"status": Status.LEASED, "lease_expires_at__gt": now}


@dataclass
class QueueState:
    """Why "next" found nothing: everything done, or open items held by others' live leases."""

    open_items: int
    leased_by_others: int

    @property
    def waiting(self) -> bool:
        return self.leased_by_others > 0


def queue_state(*, project: Project, user: AbstractBaseUser, now: datetime | None = None) -> QueueState:
    """For the empty-queue page: open items left that the user has not done, and how many of those
    are held by other people's live leases (come back later) rather than finished."""
    now = now or timezone.now()
    done_by_me = Assignment.objects.filter(
        item=OuterRef("pk"), annotator=user, status__in=Assignment.DONE
    )
    open_mine = Item.objects.filter(project=project, is_open=True).filter(~Exists(done_by_me))
    leased = open_mine.filter(
        Exists(Assignment.objects.filter(item=OuterRef("pk"), **live_lease_filter(now)).exclude(annotator=user))
    )
    return QueueState(open_items=open_mine.count(), leased_by_others=leased.count())


def assignment_get_for_user(*, assignment_id: int, user: AbstractBaseUser, project: Project) -> Assignment:
    """One of the user's own assignments in the project; 404 for anyone else's."""
    assignment = (
        Assignment.objects.select_related("item__project")
        .filter(pk=assignment_id, annotator=user, item__project=project)
        .first()
    )
    if assignment is None:
        raise NotFoundError("No such assignment.")
    return assignment


# --- Annotation ---------------------------------------------------------------------------------


def annotation_progress(*, project: Project, user: AbstractBaseUser) -> dict:
    """The two progress bars of the comparison page: mine (judged / items) and the project's.

    Read from the counters the database triggers keep (Project.item_count, judgment_count;
    ProjectMembership.judged_count, skipped_count): no query when the project came through
    project_get_for_user, whatever the project's size."""
    membership = _membership_of(project, user)
    items, submitted = project.item_count, project.judgment_count
    judged = membership.judged_count if membership else 0
    skipped = membership.skipped_count if membership else 0
    needed = items * project.overlap
    return {
        "items": items,
        "needed": needed,
        "submitted": submitted,
        "percent": min(100, round(100 * submitted / needed)) if needed else 0,
        "mine": judged,
        "skipped": skipped,
        "mine_percent": min(100, round(100 * (judged + skipped) / items)) if items else 0,
    }


# Criteria of frozen (published or archived) rubric versions, per process: the database forbids
# changing them (rubrics migration 0002), so the comparison page need not read them per request.
# Keyed with the version's content hash and publication time too, so a reused id never matches.
class FrozenRubricCache(dict):
    """Per process, what a frozen rubric version decides, under `frozen_rubric_key` (plus whatever
    else the value depends on); at most 256 entries, then it starts over."""

    def put(self, key: tuple, value):
        if len(self) >= 256:
            self.clear()
        self[key] = value
        return value


_FROZEN_CRITERIA = FrozenRubricCache()


def frozen_rubric_key(project: Project) -> tuple | None:
    """A key for what the project's pinned rubric version decides, when that version is frozen and
    was read with the project (`project_get_for_user`); None otherwise (nothing to cache)."""
    version = project._state.fields_cache.get("rubric_version")
    if version is None or not version.is_frozen:
        return None
    return (version.pk, version.content_hash, version.published_at)


def criteria_for_project(*, project: Project) -> list:
    """The pinned rubric version's criteria in order (empty without a rubric); no query when the
    version is frozen and was read before in this process."""
    if project.rubric_version_id is None:
        return []
    from rubrics.models import Criterion

    key = frozen_rubric_key(project)
    if key is not None and key in _FROZEN_CRITERIA:
        return _FROZEN_CRITERIA[key]
    criteria = list(Criterion.objects.filter(version_id=project.rubric_version_id).order_by("position", "id"))
    return criteria if key is None else _FROZEN_CRITERIA.put(key, criteria)


def responses_in_shown_order(*, item: Item, shown_order: list[int]) -> list[Response]:
    """The item's responses as the annotator sees them (A, B, …), each with `.label` set."""
    responses = {r.id: r for r in item.responses.all()}
    ordered = [responses[rid] for rid in shown_order if rid in responses]
    ordered += [r for rid, r in sorted(responses.items(), key=lambda kv: (kv[1].position, kv[0]))
                if rid not in shown_order]
    for i, r in enumerate(ordered):
        r.label = LETTERS[i] if i < len(LETTERS) else str(i + 1)
    return ordered


def item_markup(*, item: Item, responses: list[Response]) -> tuple[list[str], list[str]]:
    """The HTML of the item's prompt turns and of `responses`: as stored after import when it was
    rendered by this RENDERER_VERSION (services/markup.py), else rendered now (config.markup, cached
    by content)."""
    turns = prompt_texts(item.prompt)
    if item.markup_version == RENDERER_VERSION and len(item.prompt_html) == len(turns):
        return list(item.prompt_html), [r.content_html for r in responses]
    htmls = render_markdown_many(turns + [r.content for r in responses])
    return htmls[:len(turns)], htmls[len(turns):]


def prompt_texts(prompt: list | None) -> list[str | None]:
    """The markdown of each of a prompt's turns, in order: what `Item.prompt_html` holds rendered."""
    return [m.get("content") for m in prompt or []]


def last_undoable_submission(*, project: Project, user: AbstractBaseUser, now=None) -> Judgment | None:
    """The user's last judgment in the project if it can still be undone."""
    from .services import UNDO_SECONDS

    now = now or timezone.now()
    return (
        Judgment.objects.filter(annotator=user, item__project=project,
                                submitted_at__gt=now - timedelta(seconds=UNDO_SECONDS))
        .order_by("-submitted_at", "-id")
        .only("id", "submitted_at", "item_id")
        .first()
    )


# --- Items, review and gold --------------------------------------------------------------------

ITEM_FILTERS = {
    "all": Q(),
    "open": Q(is_open=True),
    "complete": Q(is_open=False),
    "disagreement": Q(has_disagreement=True),
    "gold": Q(is_gold=True),
    "adjudicated": Q(adjudication__isnull=False),
}
REVIEW_FILTERS = {
    "needs_review": Q(has_disagreement=True, adjudication__isnull=True),
    "disagreement": Q(has_disagreement=True),
    "adjudicated": Q(adjudication__isnull=False),
    "all": Q(submitted_count__gte=1),
}


def item_page(*, project: Project, where: Q, after: int | None = None, before: int | None = None,
              search: str = "", limit: int = 50) -> dict:
    """A keyset page of the project's items (by id): constant cost however deep the page."""
    qs = (
        Item.objects.filter(project=project).filter(where)
        .select_related("adjudication")
        .annotate(response_count=Count("responses"))
    )
    if search:
        qs = qs.filter(external_id__icontains=search)
    if before is not None:
        rows = list(qs.filter(id__lt=before).order_by("-id")[: limit + 1])
        has_more = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        return {"items": rows, "next": rows[-1].id if rows else None, "prev": rows[0].id if has_more else None}
    if after is not None:
        qs = qs.filter(id__gt=after)
    rows = list(qs.order_by("id")[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next": rows[-1].id if has_more else None, "prev": rows[0].id if (rows and after) else None}


def item_counts(*, project: Project, filters: dict[str, Q]) -> dict[str, int]:
    """How many items each filter tab holds, in one query."""
    return Item.objects.filter(project=project).aggregate(
        **{name: Count("id", filter=where) if where else Count("id") for name, where in filters.items()}
    )


# The API's list filters (query parameter → lookup); their serializers check the values.
ITEM_LIST_LOOKUPS = {
    "external_id": "external_id", "min_judgments": "submitted_count__gte", "is_gold": "is_gold",
    "updated_after": "updated_at__gt",
}
JUDGMENT_LIST_LOOKUPS = {
    "annotator": "annotator__username", "item": "item_id", "external_id": "item__external_id",
    "rubric_version": "rubric_version_id", "both_bad": "both_bad", "submitted_after": "submitted_at__gt",
    "submitted_before": "submitted_at__lt",
}


def _filtered(qs: QuerySet, filters: dict | None, lookups: dict[str, str]) -> QuerySet:
    """`qs` narrowed by each filter given (None or "" means not asked for)."""
    given = {lookups[name]: value for name, value in (filters or {}).items()
             if name in lookups and value is not None and value != ""}
    return qs.filter(**given)


def item_list(*, project: Project, filters: dict | None = None) -> QuerySet[Item]:
    """The project's items with their responses (in stored order), filtered (the API's item list)."""
    qs = Item.objects.filter(project=project).prefetch_related(
        Prefetch("responses", queryset=Response.objects.order_by("position", "id"))
    )
    return _filtered(qs, filters, ITEM_LIST_LOOKUPS)


def item_get_for_project(*, project: Project, item_id: int) -> Item:
    """An item of the project with its responses (by position); 404 if it belongs elsewhere."""
    item = item_list(project=project).filter(pk=item_id).first()
    if item is None:
        raise Http404("No such item.")
    return item


def item_judgments(*, item: Item) -> list[Judgment]:
    """Every judgment of an item with its annotator, assignment and criterion scores (3 queries)."""
    return list(
        Judgment.objects.filter(item=item)
        .select_related("annotator", "assignment", "rubric_version")
        .prefetch_related("criterion_scores")
        .order_by("submitted_at", "id")
    )


def judgment_list(*, project: Project, user: AbstractBaseUser, filters: dict | None = None) -> QuerySet[Judgment]:
    """The project's judgments the caller may read (annotators: their own), with what the output needs.

    Admins and reviewers see every judgment of a project; annotators see items and their own judgments.
    """
    qs = (
        Judgment.objects.filter(item__project=project)
        .select_related("item", "annotator", "rubric_version__rubric_set", "assignment")
        .prefetch_related(Prefetch(
            "criterion_scores",
            queryset=CriterionJudgment.objects.select_related("criterion")
            .order_by("response_id", "criterion__position", "criterion_id"),
        ))
    )
    if not has_role(project, ROLES_STAFF):
        qs = qs.filter(annotator=user)
    return _filtered(qs, filters, JUDGMENT_LIST_LOOKUPS)


def judgment_get(*, project: Project, user: AbstractBaseUser, judgment_id: int) -> Judgment:
    judgment = judgment_list(project=project, user=user).filter(pk=judgment_id).first()
    if judgment is None:
        raise Http404("No such judgment.")
    return judgment


def adjudication_get(*, item: Item) -> Adjudication | None:
    """The item's final label with its reviewer, or None."""
    return Adjudication.objects.filter(item=item).select_related("reviewer").first()


def review_next_item_id(*, project: Project, after: int) -> int | None:
    """The next item needing review after `after` (then from the start), for "save and next"."""
    qs = Item.objects.filter(project=project).filter(REVIEW_FILTERS["needs_review"]).exclude(pk=after)
    return (qs.filter(id__gt=after).order_by("id").values_list("id", flat=True).first()
            or qs.order_by("id").values_list("id", flat=True).first())


def gold_correct(*, item: Item, preference: int | None, both_bad: bool, ranking: list) -> bool:
    """Does a judgment match the item's gold answer? Pairs: the same side (sign) or both bad;
    rankings: the same response on top."""
    if item.gold_both_bad:
        return both_bad
    if both_bad:
        return False
    if item.gold_ranking:
        return bool(ranking) and ranking[0] == item.gold_ranking[0]
    if item.gold_preference is None or preference is None:
        return False
    return (preference > 0) - (preference < 0) == (item.gold_preference > 0) - (item.gold_preference < 0)


def gold_accuracy(*, project: Project) -> list[dict]:
    """Per annotator: gold items judged, how many matched the known answer, accuracy."""
    gold_items = {
        i.id: i for i in Item.objects.filter(project=project, is_gold=True).only(
            "id", "gold_preference", "gold_both_bad", "gold_ranking")
    }
    if not gold_items:
        return []
    stats: dict[int, dict] = {}
    rows = (
        Judgment.objects.filter(item_id__in=list(gold_items))
        .values_list("annotator_id", "annotator__username", "item_id", "preference", "both_bad", "ranking")
    )
    for annotator_id, username, item_id, preference, both_bad, ranking in rows.iterator(chunk_size=2000):
        s = stats.setdefault(annotator_id, {"annotator": username, "judged": 0, "correct": 0})
        s["judged"] += 1
        s["correct"] += gold_correct(item=gold_items[item_id], preference=preference, both_bad=both_bad,
                                     ranking=ranking)
    out = sorted(stats.values(), key=lambda s: s["annotator"])
    for s in out:
        s["accuracy"] = round(100 * s["correct"] / s["judged"]) if s["judged"] else None
    return out


def member_list(*, project: Project) -> list[ProjectMembership]:
    """Members with their user and how much each has done (2 queries)."""
    done = (
        Assignment.objects.filter(item__project=project, annotator=OuterRef("user_id"))
        .order_by().values("annotator")
    )
    return list(
        ProjectMembership.objects.filter(project=project)
        .select_related("user")
        .annotate(
            judged=Coalesce(Subquery(done.filter(status=Assignment.Status.SUBMITTED)
                                     .annotate(n=Count("id")).values("n"), output_field=IntegerField()), 0),
            skipped=Coalesce(Subquery(done.filter(status=Assignment.Status.SKIPPED)
                                      .annotate(n=Count("id")).values("n"), output_field=IntegerField()), 0),
        )
        .order_by("role", "user__username")
    )


def member_user_get(*, project: Project, user_id: int) -> AbstractBaseUser:
    """A member of the project (the user), else 404."""
    user = get_user_model().objects.filter(pk=user_id, memberships__project=project).first()
    if user is None:
        raise Http404("No such member.")
    return user


# --- Moving projects to a newer rubric version -----------------------------------------------------


def rubric_switch_candidates(*, user: AbstractBaseUser, version) -> list[Project]:
    """Projects the user administers that pin an older version of `version`'s rubric set: the ones
    a newly published version offers to move. Each has `.judgments_on_pinned`: how many of its
    judgments were made with its current version (they keep it). Two queries."""
    from .access import ROLES_ADMIN, project_ids_for_user

    if not user.is_authenticated or version is None or version.status != "published":
        return []
    projects = list(
        Project.objects.filter(
            pk__in=project_ids_for_user(user=user, roles=ROLES_ADMIN),
            rubric_version__rubric_set_id=version.rubric_set_id,
            rubric_version__number__lt=version.number,
        ).select_related("rubric_version__rubric_set").order_by("name", "id")
    )
    counts = dict(
        Judgment.objects.filter(item__project__in=[p.pk for p in projects])
        .filter(rubric_version_id__in={p.rubric_version_id for p in projects})
        .values("item__project").annotate(n=Count("id")).values_list("item__project", "n")
    ) if projects else {}
    for p in projects:
        p.judgments_on_pinned = counts.get(p.pk, 0)
    return projects


def rubric_switch_version_get(*, user: AbstractBaseUser, slug: str, number: int):
    """The published version whose move page the user asks for: a site admin may open any;
    a project admin one that a project of theirs could move to. Else 404."""
    from rubrics.models import RubricVersion

    from .access import is_site_admin

    version = (RubricVersion.objects.select_related("rubric_set")
               .filter(rubric_set__slug=slug, number=number, status=RubricVersion.Status.PUBLISHED).first())
    if version is None or not (is_site_admin(user) or rubric_switch_candidates(user=user, version=version)):
        raise Http404("No such published rubric version.")
    return version


def rubric_version_newer(*, project: Project):
    """The newest published version of the project's rubric set when it is newer than the pinned one."""
    from rubrics.models import RubricVersion

    pinned = project.rubric_version
    if pinned is None:
        return None
    return (RubricVersion.objects.filter(rubric_set_id=pinned.rubric_set_id, status=RubricVersion.Status.PUBLISHED,
                                         number__gt=pinned.number)
            .select_related("rubric_set").order_by("-number").first())
