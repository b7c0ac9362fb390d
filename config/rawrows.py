"""Several models' rows read in one hand-written statement (PostgreSQL), turned into instances.

The annotator's per-click statements are fixed shapes: building and compiling them through the ORM
on every click cost more than running them (about a millisecond per statement with joins). Where a
statement is written by hand instead, its SELECT list comes from the models (`select_list`), so a
new field is read without editing the SQL, and each model's slice of the row becomes an instance
(`instances_from_row`) as the ORM would have made it: JSON columns (text from the database driver)
decoded, the instance marked as loaded from the database.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from django.db import models


def select_list(model: type[models.Model], alias: str) -> str:
    """`alias.col, …` of the model's columns, in the order `instances_from_row` reads them."""
    return ", ".join(f"{alias}.{f.column}" for f in model._meta.concrete_fields)


def instances_from_row(row: Sequence, parts: Sequence[type[models.Model]], db: str = "default") -> list:
    """One instance per model of `parts`, from consecutive slices of `row` (each `select_list` of its
    model, in that order). A model whose slice has no primary key (a LEFT JOIN that found nothing)
    gives None."""
    instances, start = [], 0
    for model in parts:
        fields = model._meta.concrete_fields
        values = list(row[start:start + len(fields)])
        start += len(fields)
        if values[fields.index(model._meta.pk)] is None:
            instances.append(None)
            continue
        for i, f in enumerate(fields):
            if isinstance(f, models.JSONField) and isinstance(values[i], str):
                values[i] = json.loads(values[i])
        instances.append(model.from_db(db, None, values))
    return instances
