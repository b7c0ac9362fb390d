"""The assignment queue: which item an annotator gets next, leases, heartbeats, skips.

Invariant: for every item, submitted judgments + live leases <= project.overlap, so an item ends with
exactly `overlap` judgments and nobody works on an item that cannot use their judgment.

How it holds under concurrency:

- "Next item" first locks the annotator's own row (`_lock_annotator_and_list_leases`), so one user's tabs take
  turns: the second finds the lease the first just took instead of taking another item.
- Every change to an item's assignments or judgments (lease, renew, skip, submit, undo) runs in a
  transaction that first locks the item row (`item_lock`), then re-reads the counts with fresh
  statements. Lock order is always item, then assignment (a submission: item, the member's counter
  row, assignment, taken by one statement, `assignment_lock_for_submit`); a request never waits for a second item
  while holding one, except the user's own leases, locked together in id order (`_current_lease`),
  so two operations never deadlock.
- "Next item" picks a candidate with `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL: annotators
  racing for the same item do not wait on each other, each takes the next unlocked one.
- SQLite has no row locks. There the transaction starts with a write, which takes SQLite's single
  database write lock, so queue transactions run one at a time: correct, only slower.

A lease is live while `status = leased` and `lease_expires_at > now`. Expired leases stop counting at
once; they are marked `expired` when someone else takes the item (reclaimed) and may be renewed by
their holder if the item still has room.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import (
    Count,
    F,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    TextField,
    Value,
    prefetch_related_objects,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from config.errors import ConflictError, NotFoundError
from config.rawrows import instances_from_row, select_list

from ..models import Assignment, Item, Project, ProjectMembership, Response, random_queue_key
from ..selectors import live_lease_filter

Status = Assignment.Status
# A candidate can lose a race between being picked and being locked; try the next one.
MAX_ATTEMPTS = 50


def _uses_row_locks() -> bool:
    return connection.features.has_select_for_update


def _serialize_on_sqlite(project_id: int) -> None:
    """SQLite: take the database write lock now, so the reads below see what the writes will act on."""
    if not _uses_row_locks():
        Project.objects.filter(pk=project_id).update(overlap=F("overlap"))


def _lock_annotator_and_list_leases(project: Project, user: AbstractBaseUser, now: datetime
                                    ) -> tuple[list[tuple], int | None]:
    """(assignment id, item id) of the user's live leases in the project, oldest first (at most 3),
    read under a lock on the user's row, so "next item" runs one at a time per annotator: several tabs
    asking at once would each see no lease and each take a new item. FOR NO KEY UPDATE: inserts that
    reference the user (judgments) are not blocked. Taken before any item lock. With them, where the
    user's oldest-first pick starts (`ProjectMembership.walked_to`; None: not a member; 0 on SQLite).

    Two statements, not one: a statement reads its rows as of when it started, so a lease that
    another tab took while this one waited for the lock would be missing from a list read in the
    same statement as the lock, and the user would end up with two leases. SQLite: its database
    write lock serializes instead."""
    if not _uses_row_locks():
        _serialize_on_sqlite(project.pk)
        leases = (Assignment.objects.filter(annotator=user, item__project=project, **live_lease_filter(now))
                  .order_by("leased_at", "id").values_list("pk", "item_id"))
        return list(leases[:3]), 0
    # PostgreSQL, on every click: written by hand, not compiled by the ORM each time (~1 ms). The
    # lease test is live_lease_filter's. The lock also sets, for this transaction only, that every
    # statement is planned for its own values, the pick above all: prepared on the connection
    # (config/settings.py), its generic plan walked every item the annotator had judged (20 ms a
    # click instead of 0.5). Only here: set for the whole connection, every foreign-key check of
    # every insert was planned again, and an import of 100,000 items took 40% longer.
    with connection.cursor() as cursor:
        cursor.execute("SELECT u.id, set_config('plan_cache_mode', 'force_custom_plan', true), m.walked_to "
                       f"FROM {get_user_model()._meta.db_table} u "  # noqa: S608
                       "LEFT JOIN annotator_projectmembership m ON m.user_id = u.id AND m.project_id = %s "
                       "WHERE u.id = %s FOR NO KEY UPDATE OF u", [project.pk, user.pk])
        row = cursor.fetchone()
        cursor.execute("""
            SELECT a.id, a.item_id FROM annotator_assignment a JOIN annotator_item i ON i.id = a.item_id
            WHERE a.annotator_id = %s AND i.project_id = %s AND a.status = %s AND a.lease_expires_at > %s
            ORDER BY a.leased_at, a.id LIMIT 3""", [user.pk, project.pk, Status.LEASED, now])
        return cursor.fetchall(), (row[2] if row else None)


# With a new lease (PostgreSQL, oldest first): moves the member's walked_to up to their first open item
# that they have neither judged nor skipped, from where the lock's statement read it (the items they
# did since, usually one). Last in the transaction, after every item lock, and never waiting: a submit
# locks the member's row after its item, so waiting here could close a circle; a row that is locked,
# or that a trigger (migration 0010) lowered meanwhile, is left as it is. The probe of "done by me" is
# a subquery per item, never a join: see `_candidates`.
_WALK_SQL = f"""
    WITH next_undone AS MATERIALIZED (
      SELECT i.id FROM annotator_item i
       WHERE i.project_id = %s AND i.is_open AND i.id >= %s
         AND (SELECT 1 FROM annotator_assignment d
               WHERE d.item_id = i.id AND d.annotator_id + 0 = %s
                 AND d.status IN ({", ".join(f"'{s}'" for s in Assignment.DONE)}) LIMIT 1) IS NULL
       ORDER BY i.id LIMIT 1),
    walked AS (
      UPDATE annotator_projectmembership m SET walked_to = n.id FROM next_undone n
       WHERE n.id > %s AND m.id = (SELECT id FROM annotator_projectmembership
                                    WHERE project_id = %s AND user_id = %s AND walked_to = %s
                                    FOR UPDATE SKIP LOCKED))
"""


def item_lock(*, item_id: int) -> Item:
    """Lock one item row for the rest of the transaction (waits for the holder) and return it fresh."""
    if not _uses_row_locks():
        Item.objects.filter(pk=item_id).update(submitted_count=F("submitted_count"))
    try:
        return Item.objects.select_for_update(of=("self",)).select_related("project").get(pk=item_id)
    except Item.DoesNotExist:
        raise NotFoundError("No such item.")


# An item's responses as one JSON array (ordered by position), read in the statement that reads the
# item: the page that shows the item renders them next. `%s` is the item table's alias.
_RESPONSES_JSON = """(SELECT json_agg(json_build_object('id', r.id, 'external_id', r.external_id,
    'model_name', r.model_name, 'content', r.content, 'content_html', r.content_html,
    'position', r.position, 'metadata', r.metadata,
    'created_at', r.created_at, 'updated_at', r.updated_at) ORDER BY r.position, r.id)::text
    FROM annotator_response r WHERE r.item_id = %s.id)"""


def _attach_responses(item: Item, responses_json: str | None) -> None:
    """Set `item.responses.all()` to the responses read as JSON with the item: no second query."""
    responses = []
    for row in json.loads(responses_json or "[]"):
        row["created_at"], row["updated_at"] = parse_datetime(row["created_at"]), parse_datetime(row["updated_at"])
        response = Response(item_id=item.pk, **row)
        response._state.adding, response._state.db = False, item._state.db
        responses.append(response)
    cached = item.responses.get_queryset()
    cached._result_cache, cached._prefetch_done = responses, True
    item._prefetched_objects_cache = {"responses": cached}


def assignment_lock_for_submit(*, assignment_id: int, user_id: int, project: Project) -> Assignment | None:
    """Lock what a submission changes, in the queue's order (item, the member's counter row, the
    assignment), and return the assignment fresh with `.item` (its responses attached); None if it
    is not the user's assignment in the project. PostgreSQL: one statement (it locks a row's tables
    in the order its OF clause names them), the responses read with it; elsewhere three."""
    if connection.vendor != "postgresql":
        item_id = (Assignment.objects.filter(pk=assignment_id, annotator_id=user_id, item__project=project)
                   .values_list("item_id", flat=True).first())
        if item_id is None:
            return None
        item = item_lock(item_id=item_id)
        member_counters_lock(project_id=project.pk, user_id=user_id)
        assignment = Assignment.objects.select_for_update().get(pk=assignment_id)
        assignment.item = item
        return assignment
    with connection.cursor() as cursor:
        cursor.execute(_submit_lock_sql(), [assignment_id, user_id, project.pk])
        row = cursor.fetchone()
    if row is None:
        return None
    item, assignment, locked_project = instances_from_row(row, _SUBMIT_LOCK_PARTS, connection.alias)
    # The project as it is now, read with the locked item, not the caller's copy: a project moved to
    # another rubric version meanwhile takes answers against the new criteria only.
    item.project = locked_project
    _attach_responses(item, row[-1])
    assignment.item = item
    return assignment


_SUBMIT_LOCK_PARTS = (Item, Assignment, Project)


@cache
def _submit_lock_sql() -> str:
    """The submit's one statement (config/rawrows.py): the item, the assignment and the project, the
    item's responses as JSON last."""
    return f"""
        SELECT {select_list(Item, "i")}, {select_list(Assignment, "a")}, {select_list(Project, "p")},
          {_RESPONSES_JSON % "i"}
        FROM annotator_assignment a
        JOIN annotator_item i ON i.id = a.item_id
        JOIN annotator_project p ON p.id = i.project_id
        JOIN annotator_projectmembership m ON m.project_id = i.project_id AND m.user_id = a.annotator_id
        WHERE a.id = %s AND a.annotator_id = %s AND i.project_id = %s
        FOR UPDATE OF i, m, a"""  # noqa: S608 - column names from the models


def member_counters_lock(*, project_id: int, user_id: int) -> None:
    """Lock the member's row (its progress counters) before anything moves the project's counters.

    Triggers keep both counters (annotator/migrations/0005, 0008): an assignment's status moves the
    member's row, an item's submitted count the project's. A submit, whose statement order may
    vary, and an undo in another tab of the same annotator would otherwise take the two rows in
    opposite orders and deadlock; with this lock first, every path takes member → project."""
    if _uses_row_locks():
        list(ProjectMembership.objects.select_for_update(of=("self",)).filter(project_id=project_id, user_id=user_id)
             .order_by().values_list("id", flat=True))


def live_leases_of_others(*, item: Item, user: AbstractBaseUser | int, now: datetime) -> int:
    return Assignment.objects.filter(item=item, **live_lease_filter(now)).exclude(annotator=user).count()


def _lease_expiry(project: Project, now: datetime) -> datetime:
    return now + timedelta(minutes=project.lease_minutes)


def _shown_order(item: Item, project: Project) -> list[int]:
    # The responses are read whole once: the page that shows this lease renders them next.
    prefetch_related_objects([item], Prefetch("responses", queryset=Response.objects.order_by("position", "id")))
    ids = [r.id for r in item.responses.all()]
    if project.randomize_order:
        random.shuffle(ids)
    return ids


def _has_room(item: Item, project: Project, user: AbstractBaseUser | int, now: datetime) -> bool:
    if not item.is_open or item.submitted_count >= project.overlap:
        return False
    return item.submitted_count + live_leases_of_others(item=item, user=user, now=now) < project.overlap


def assignment_renew_locked(*, assignment: Assignment, item: Item, now: datetime, extend: bool = True) -> bool:
    """Extend a lease (the item row must be locked). An expired lease is renewed only if the item
    still has room; otherwise it is marked expired and False is returned. With extend=False a live
    lease is only checked (a submission is about to end it anyway)."""
    project = item.project
    if assignment.status == Status.LEASED and assignment.lease_expires_at > now:
        if extend:
            assignment.lease_expires_at = _lease_expiry(project, now)
            assignment.save(update_fields=["lease_expires_at", "updated_at"])
        return True
    if assignment.status not in (Status.LEASED, Status.EXPIRED):
        return False
    if not _has_room(item, project, assignment.annotator_id, now):
        if assignment.status != Status.EXPIRED:
            assignment.status = Status.EXPIRED
            assignment.save(update_fields=["status", "updated_at"])
        return False
    assignment.status = Status.LEASED
    assignment.lease_expires_at = _lease_expiry(project, now)
    assignment.save(update_fields=["status", "lease_expires_at", "updated_at"])
    return True


def _current_lease(candidates: list[tuple], now: datetime) -> Assignment | None:
    """The first of the user's live leases (`candidates`) still live under its item's lock, extended;
    None if none is.

    The candidates' items are locked in one statement, in id order: a user can hold more than one
    lease (an undo gives one back), and two requests that each held one item and waited for another
    in lease order would deadlock. Every other path waits for at most one item lock."""
    if not candidates:
        return None
    if _uses_row_locks():
        items = {item.pk: item for item in _with_responses(
            Item.objects.select_for_update(of=("self",)).select_related("project")
            .filter(pk__in={item_id for _, item_id in candidates}).order_by("pk"))}
        for item in items.values():
            _attach_responses(item, item.responses_json)
    else:
        items = {item.pk: item for item in Item.objects.select_related("project")
                 .filter(pk__in={item_id for _, item_id in candidates})}
    for pk, item_id in candidates:
        item = items.get(item_id)
        if item is None:
            continue
        assignment = Assignment.objects.select_for_update().get(pk=pk)
        if assignment_renew_locked(assignment=assignment, item=item, now=now):
            assignment.item = item
            return assignment
    return None


def _candidates(project: Project, user: AbstractBaseUser, now: datetime, exclude: list[int]) -> QuerySet[Item]:
    """Open items the user has neither judged nor skipped, with room for one more lease.

    "Not done by me" is a count per candidate, not NOT EXISTS: PostgreSQL turns NOT EXISTS into an
    anti-join that merges the candidates with the assignments index in item order, reading every
    assignment of every item before the first candidate (3.5 ms per click in a 100,000-item project
    half done, ten times that at 1,000,000). A count stays a subquery: one probe of the (item,
    annotator) unique index per candidate looked at, whatever the project's size. The annotator is
    compared as `annotator_id + 0` so that no index on the annotator alone can serve the probe: with
    statistics from before the annotator's first judgments, PostgreSQL chose one and read all of the
    annotator's assignments for every candidate (10 ms a click after 300 judgments)."""
    done_by_me = (
        Assignment.objects.alias(annotator_plus_0=F("annotator_id") + 0)
        .filter(item=OuterRef("pk"), annotator_plus_0=user.pk, status__in=Assignment.DONE)
        .order_by()
        .values("item")
        .annotate(n=Count("pk"))
        .values("n")
    )
    live_others = (
        Assignment.objects.filter(item=OuterRef("pk"), **live_lease_filter(now))
        .exclude(annotator=user)
        .order_by()
        .values("item")
        .annotate(n=Count("pk"))
        .values("n")
    )
    qs = (
        Item.objects.filter(project=project, is_open=True, submitted_count__lt=project.overlap)
        .alias(mine=Coalesce(Subquery(done_by_me), Value(0)))
        .filter(mine=0)
        .annotate(live=Coalesce(Subquery(live_others), Value(0)))
        .filter(live__lt=Value(project.overlap) - F("submitted_count"))
    )
    if exclude:
        qs = qs.exclude(pk__in=exclude)
    return qs


def _candidate_query(project: Project, user: AbstractBaseUser, now: datetime, exclude: list[int],
                     pivot: tuple[str, int] | None) -> QuerySet[Item]:
    """The candidates in queue order, the first to be locked (skipping rows others hold). `pivot`:
    (lookup, key) on the random order's fixed keys, or ("pk__gte", walked_to) for oldest first from
    there; None: oldest first from the first item."""
    qs = _candidates(project, user, now, exclude)
    if pivot is not None:
        qs = qs.filter(**{pivot[0]: pivot[1]})
    qs = qs.order_by("queue_key", "id") if pivot and pivot[0].startswith("queue_key") else qs.order_by("id")
    if connection.features.has_select_for_update_skip_locked:
        qs = qs.select_for_update(skip_locked=True, of=("self",))
    return qs


# PostgreSQL: the pick statement as the ORM writes it, compiled once per queue order: building and
# compiling the query took 3 ms of every round trip. The parameters are found by sentinel values,
# and a shape whose SQL does not take every one of them as a parameter is never cached.
# (Within the columns' ranges: Django answers a lookup outside them without asking the database.)
_SENTINELS = {"project": 2_000_000_001, "user": 2_000_000_002, "overlap": 2_000_000_003,
              "pivot": 2_000_000_004, "now": datetime(1901, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)}
_PICK_SQL: dict[str | None, tuple[str, list[tuple[str | None, object]]] | None] = {}


def _pick_statement(project: Project, user: AbstractBaseUser, now: datetime, exclude: list[int],
                    pivot: tuple[str, int] | None) -> tuple[str, list]:
    """SQL and parameters of the locking pick, the item's responses read with it (PostgreSQL)."""
    lookup = pivot[0] if pivot else None
    if not exclude and lookup not in _PICK_SQL:
        _PICK_SQL[lookup] = _compiled_pick(lookup)
    cached = None if exclude else _PICK_SQL[lookup]
    if cached is None:
        return _with_responses(_candidate_query(project, user, now, exclude, pivot))[:1].query.sql_with_params()
    sql, slots = cached
    values = {"project": project.pk, "user": user.pk, "overlap": project.overlap, "now": now,
              "pivot": pivot[1] if pivot else None}
    # A slot keeps the type the ORM gave its parameter (e.g. psycopg's Int4 for a Value()).
    return sql, [value if name is None else _as(value, values[name]) for name, value in slots]


def _as(kind: type, value):
    return value if isinstance(value, kind) else kind(value)


def _with_responses(qs: QuerySet[Item]) -> QuerySet[Item]:
    """The items with their responses as JSON (`_attach_responses` sets them), PostgreSQL."""
    # A constant fragment with no parameters: nothing of the request reaches this SQL.
    return qs.annotate(responses_json=RawSQL(_RESPONSES_JSON % Item._meta.db_table, [],  # noqa: S611
                                             output_field=TextField()))


def _compiled_pick(lookup: str | None) -> tuple[str, list[tuple[str | None, object]]] | None:
    """The pick's SQL with (sentinel name, the parameter's type) or (None, constant) per parameter;
    None if some input is not a parameter of its own."""
    s = _SENTINELS
    project = Project(pk=s["project"], overlap=s["overlap"])
    user = get_user_model()(pk=s["user"])
    pivot = (lookup, s["pivot"]) if lookup else None
    sql, params = _with_responses(_candidate_query(project, user, s["now"], [], pivot))[:1].query.sql_with_params()
    names = {v: k for k, v in s.items()}
    slots: list[tuple[str | None, object]] = []
    for p in params:
        name = names.get(p) if isinstance(p, int | datetime) and not isinstance(p, bool) else None
        slots.append((name, type(p)) if name else (None, p))
    needed = {"project", "user", "overlap", "now"} | ({"pivot"} if lookup else set())
    inlined = any(str(v) in sql for v in (s["project"], s["user"], s["overlap"], s["pivot"])) or "1901" in sql
    if inlined or needed - {name for name, _ in slots if name}:
        return None
    return sql, slots


def _lock_first(project: Project, user: AbstractBaseUser, now: datetime, exclude: list[int],
                pivot: tuple[str, int] | None) -> Item | None:
    """The first candidate, locked (skipping rows others hold), with its responses (PostgreSQL)."""
    if connection.vendor != "postgresql":
        return _candidate_query(project, user, now, exclude, pivot).select_related("project").first()
    sql, params = _pick_statement(project, user, now, exclude, pivot)
    # The ORM's SELECT list: the item's columns in field order, then responses_json. Read by hand:
    # a RawQuerySet matched the columns to the fields again on every click (~0.2 ms).
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    (item,) = instances_from_row(row[:-1], (Item,), connection.alias)
    item.project = project  # the request's: its overlap is the one the statement used
    _attach_responses(item, row[-1])
    return item


def _pick_and_lock(project: Project, user: AbstractBaseUser, now: datetime, exclude: list[int],
                   start: int) -> Item | None:
    if project.queue_order == Project.QueueOrder.RANDOM:
        # A random pivot on an index of fixed random keys: O(log n), unlike ORDER BY random().
        pivot = random_queue_key()
        return (_lock_first(project, user, now, exclude, ("queue_key__gte", pivot))
                or _lock_first(project, user, now, exclude, ("queue_key__lt", pivot)))
    # Oldest first from the user's walked_to. Before "nothing left", once more from the first item:
    # a walked_to that raced past an item (one added or reopened by a transaction that committed
    # while the walk ran) delays that item for this user, never hides it.
    return (_lock_first(project, user, now, exclude, ("pk__gte", start))
            or (_lock_first(project, user, now, exclude, None) if start else None))


def _lease_new_locked(item: Item, project: Project, user: AbstractBaseUser, now: datetime,
                      walked_to: int | None) -> Assignment | None:
    """The common case of `_lease_locked` in one statement (PostgreSQL): insert the lease if the item
    has no assignment of the user, no lease that ran out (to reclaim) and room, as a statement that
    starts after the item lock reads them. None: not that case, `_lease_locked` looks closer.
    `walked_to`: the member's, to move on (`_WALK_SQL`); None: not a member, or not oldest first."""
    if connection.vendor != "postgresql" or not item.is_open:
        return None
    assignment = Assignment(item=item, annotator=user, status=Status.LEASED, leased_at=now,
                            lease_expires_at=_lease_expiry(project, now), shown_order=_shown_order(item, project),
                            created_at=now, updated_at=now)
    walk, walk_params = "", []
    if walked_to is not None:
        walk = _WALK_SQL
        walk_params = [project.pk, walked_to, user.pk, walked_to, project.pk, user.pk, walked_to]
    with connection.cursor() as cursor:
        cursor.execute(walk + """
            INSERT INTO annotator_assignment (item_id, annotator_id, status, leased_at, lease_expires_at,
              shown_order, created_at, updated_at)
            SELECT %s, %s, %s, %s, %s, %s::jsonb, %s, %s
            WHERE NOT EXISTS (SELECT 1 FROM annotator_assignment
                              WHERE item_id = %s AND (annotator_id = %s OR (status = %s AND lease_expires_at <= %s)))
              AND (SELECT count(*) FROM annotator_assignment
                   WHERE item_id = %s AND status = %s AND lease_expires_at > %s) + %s < %s
            RETURNING id""", [
            *walk_params,
            item.pk, user.pk, Status.LEASED, now, assignment.lease_expires_at, json.dumps(assignment.shown_order),
            now, now,
            item.pk, user.pk, Status.LEASED, now,
            item.pk, Status.LEASED, now, item.submitted_count, project.overlap,
        ])
        row = cursor.fetchone()
    if row is None:
        return None
    assignment.pk = row[0]
    assignment._state.adding = False
    return assignment


def _lease_locked(item: Item, project: Project, user: AbstractBaseUser, now: datetime,
                  walked_to: int | None) -> Assignment | None:
    """With the item row locked: re-check with one fresh read of the item's assignments, then lease it
    to the user. (Every writer of an item's assignments holds this lock, so no row locks are needed.)"""
    leased = _lease_new_locked(item, project, user, now, walked_to)
    if leased is not None:
        return leased
    assignments = list(Assignment.objects.filter(item=item))
    own = next((a for a in assignments if a.annotator_id == user.pk), None)
    if own is not None and own.status in Assignment.DONE:
        return None
    if own is not None and own.status == Status.LEASED and own.lease_expires_at > now:
        return own  # leased by another request of the same user a moment ago
    others = [a for a in assignments if a.annotator_id != user.pk]
    live = sum(1 for a in others if a.status == Status.LEASED and a.lease_expires_at > now)
    if not item.is_open or item.submitted_count + live >= project.overlap:
        return None
    # Reclaim: leases that ran out stop counting at once; record that they are gone.
    stale = [a.pk for a in others if a.status == Status.LEASED and a.lease_expires_at <= now]
    if stale:
        Assignment.objects.filter(pk__in=stale).update(status=Status.EXPIRED, updated_at=now)
    expires = _lease_expiry(project, now)
    if own is not None:
        own.status, own.leased_at, own.lease_expires_at = Status.LEASED, now, expires
        own.shown_order = own.shown_order or _shown_order(item, project)
        own.save(update_fields=["status", "leased_at", "lease_expires_at", "shown_order", "updated_at"])
        return own
    return Assignment.objects.create(
        item=item, annotator=user, status=Status.LEASED, leased_at=now, lease_expires_at=expires,
        shown_order=_shown_order(item, project),
    )


def assignment_next_for_user(
    *, project: Project, user: AbstractBaseUser, now: datetime | None = None
) -> Assignment | None:
    """The item the user should work on now: their live lease if they hold one (extended), else a
    new lease on the next open item (oldest first or random, per project). None: queue empty.

    Never an item the user judged or skipped, nor one with `overlap` submitted judgments or live
    leases. Safe to call from any number of threads and processes at once.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # The check for a live lease and the new lease both happen under the annotator's lock.
        leases, walked_to = _lock_annotator_and_list_leases(project, user, now)
        current = _current_lease(leases, now)
        if current is not None:
            return current
        if project.queue_order != Project.QueueOrder.OLDEST:
            walked_to = None
        tried: list[int] = []
        for _ in range(MAX_ATTEMPTS):
            with transaction.atomic(savepoint=False):
                item = _pick_and_lock(project, user, now, tried, walked_to or 0)  # locked: fresh row and counter
                if item is None:
                    return None
                assignment = _lease_locked(item, item.project, user, now, walked_to)
                if assignment is not None:
                    assignment.item = item
                    return assignment
                tried.append(item.pk)
    raise ConflictError("The queue is very busy right now; try again in a moment.")


@transaction.atomic
def assignment_heartbeat(*, assignment: Assignment, now: datetime | None = None) -> Assignment:
    """The open page is still in use: extend the lease. ConflictError if it ran out and the item went
    to someone else (or was submitted/skipped meanwhile)."""
    now = now or timezone.now()
    item = item_lock(item_id=assignment.item_id)
    fresh = Assignment.objects.select_for_update().get(pk=assignment.pk)
    if fresh.status == Status.SUBMITTED:
        raise ConflictError("This item is already submitted.", code="submitted")
    if fresh.status == Status.SKIPPED:
        raise ConflictError("You skipped this item.", code="skipped")
    if not assignment_renew_locked(assignment=fresh, item=item, now=now):
        raise ConflictError(
            "Your time on this item ran out and it went to someone else. Load the next item.", code="expired"
        )
    fresh.item = item
    return fresh


@transaction.atomic
def assignment_skip(*, assignment: Assignment, now: datetime | None = None) -> Assignment:
    """Skip: the item never comes back to this user, and its slot is free for someone else at once.
    Skipping twice is a no-op; a submitted item cannot be skipped."""
    now = now or timezone.now()
    item_lock(item_id=assignment.item_id)
    fresh = Assignment.objects.select_for_update().get(pk=assignment.pk)
    if fresh.status == Status.SKIPPED:
        return fresh
    if fresh.status == Status.SUBMITTED:
        raise ConflictError("This item is already submitted; undo it first to skip it.", code="submitted")
    fresh.status = Status.SKIPPED
    fresh.submitted_at = now
    fresh.save(update_fields=["status", "submitted_at", "updated_at"])
    return fresh
