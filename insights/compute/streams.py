"""The ordered row streams the computation merges, one item at a time.

Every stream is sorted by item id and read through a server-side cursor (`iterator(chunk_size=…)`)
inside one read-only transaction, so all of them see the same snapshot and memory holds one item
at a time whatever the size of the project. Rows are plain tuples (`values_list`): no model
instances are built.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db import connection
from django.db.models import BigIntegerField, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Length, TruncDate

from annotator.models import CriterionJudgment, Item, Judgment, Response
from config.db import read_snapshot

CHUNK_ROWS = 5000


def _rows(queryset) -> Iterator[tuple]:
    return queryset.iterator(chunk_size=CHUNK_ROWS)


def _text(name: str) -> Cast:
    # JSON lists come as text and are parsed only when not empty: most rankings are "[]", and the
    # JSON field's own converter would parse every one.
    return Cast(name, TextField())


def items(project) -> Iterator[tuple]:
    """(id, is_gold, gold_preference, gold_both_bad, gold_ranking, subset, adjudication id,
    adjudication preference, adjudication both_bad, adjudication ranking)."""
    return _rows(
        Item.objects.filter(project=project)
        .order_by("id")
        .values_list(
            "id",
            "is_gold",
            "gold_preference",
            "gold_both_bad",
            _text("gold_ranking"),
            KeyTextTransform("subset", "metadata"),
            "adjudication__id",
            "adjudication__preference",
            "adjudication__both_bad",
            _text("adjudication__ranking"),
        )
    )


def responses(project) -> Iterator[tuple]:
    """(item_id, id, position, model_name, length of the content in characters)."""
    return _rows(
        Response.objects.filter(item__project=project)
        .order_by("item_id", "position", "id")
        .values_list("item_id", "id", "position", "model_name", Length("content"))
    )


def judgments(project) -> Iterator[tuple]:
    """(item_id, id, annotator_id, preference, both_bad, ranking (JSON text), time_spent_ms, the day
    it was submitted, id of the response shown first)."""
    first_shown = Cast(KeyTextTransform("0", "assignment__shown_order"), BigIntegerField())
    return _rows(
        Judgment.objects.filter(item__project=project)
        .order_by("item_id", "id")
        .values_list(
            "item_id",
            "id",
            "annotator_id",
            "preference",
            "both_bad",
            _text("ranking"),
            "time_spent_ms",
            TruncDate("submitted_at"),
            first_shown,
        )
    )


def criterion_values(project) -> Iterator[tuple]:
    """(item_id, judgment_id, response_id, criterion_id, value) of the human criterion scores."""
    return _rows(
        CriterionJudgment.objects.filter(judgment__item__project=project)
        .order_by("judgment__item_id", "judgment_id", "response_id", "criterion_id")
        .values_list("judgment__item_id", "judgment_id", "response_id", "criterion_id", "value")
    )


def response_scores(project) -> Iterator[tuple]:
    """(item_id, response_id, scorer_id, value): the newest score per response and scorer."""
    from scoring.models import ResponseScore

    rows = _rows(
        ResponseScore.objects.filter(response__item__project=project)
        .order_by("response__item_id", "response_id", "scorer_id", "-created_at", "-id")
        .values_list("response__item_id", "response_id", "scorer_id", "value")
    )
    last = None
    for row in rows:
        key = (row[1], row[2])
        if key != last:
            last = key
            yield row


def pairwise_scores(project) -> Iterator[tuple]:
    """(item_id, scorer_id, response_a_id, response_b_id, preference_a) of pairwise judges."""
    from scoring.models import PairwiseScore

    return _rows(
        PairwiseScore.objects.filter(item__project=project)
        .order_by("item_id", "scorer_id", "id")
        .values_list("item_id", "scorer_id", "response_a_id", "response_b_id", "preference_a")
    )


def model_criterion_scores(project) -> Iterator[tuple]:
    """(item_id, response_id, criterion_id, scorer_id, value) of parsed judge verdicts per criterion
    (the score when the judge gave one, else met as 1/0)."""
    from scoring.models import CriterionScore

    return _rows(
        CriterionScore.objects.filter(response__item__project=project, parse_status="ok")
        .order_by("response__item_id", "response_id", "criterion_id", "scorer_id")
        .values_list("response__item_id", "response_id", "criterion_id", "scorer_id", "score", "met")
    )


def repeated_items(project) -> dict[int, tuple[str, list[str]]]:
    """Items shown more than once (the same prompt and the same response texts under other ids):
    {item_id: (content key, [content key of each response by position])}.

    Only items whose prompt occurs more than once are hashed in full, so a project without repeats
    costs one pass over its prompts. PostgreSQL only (md5, string_agg, array_agg); elsewhere {} and
    self-consistency is not reported.
    """
    if connection.vendor != "postgresql":
        return {}
    items, responses = Item._meta.db_table, Response._meta.db_table
    sql = f"""
        WITH prompts AS (
            SELECT id, hashtextextended(prompt::text, 0) AS h FROM {items} WHERE project_id = %s
        ), repeated AS (
            SELECT p.id, p.h FROM prompts p
            WHERE p.h IN (SELECT h FROM prompts GROUP BY h HAVING count(*) > 1)
        ), keyed AS (
            SELECT c.id, c.h::text || ':' || md5(string_agg(md5(r.content), ',' ORDER BY md5(r.content))) AS key,
                   array_agg(md5(r.content) ORDER BY r.position, r.id) AS responses
            FROM repeated c JOIN {responses} r ON r.item_id = c.id GROUP BY c.id, c.h
        )
        SELECT id, key, responses FROM (
            SELECT id, key, responses, count(*) OVER (PARTITION BY key) AS n FROM keyed
        ) counted WHERE n > 1
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [project.pk])
        return {row[0]: (row[1], list(row[2])) for row in cursor.fetchall()}


def snapshot():
    """One consistent, read-only snapshot for every stream; a larger sort memory keeps the sort of
    the criterion scores off disk."""
    return read_snapshot(work_mem="64MB")
