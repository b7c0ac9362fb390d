"""Where a member's oldest-first pick starts (`ProjectMembership.walked_to`), and the PostgreSQL
triggers that lower it.

The pick (annotator/services/queue.py) looks for the oldest open item the member has neither judged
nor skipped. An item they did stays open until the other annotators have done it too, so an
annotator ahead of the others stepped, on every click, over every item they had done that still
waited (about 5 µs each: 5 ms a click after 1,000 such items). `walked_to` remembers how far that
walk got: every open item with a smaller id is one the member did. The pick advances it; these
triggers lower it, in the transaction that changes the rows, when an item below it becomes one the
member has not done:

- an assignment of theirs stops being submitted or skipped (undo), or is deleted;
- an item below it opens again (a judgment removed, the overlap raised);
- an item is added below it (two imports into one project, each with ids reserved ahead).

Each lowers only the rows that are above the item (no lock on the others), once per statement, and
locks them in id order.
SQLite keeps 0 (the pick starts from the first item there, as before).
"""

from django.db import migrations, models

DONE = "('submitted', 'skipped')"

PG_FORWARD = rf"""
-- Lowers walked_to to `low` for the members in `lowered` (user_id, project_id, low) or, with no
-- user_id, for every member of the project, where it is above: the rows locked in id order, so two
-- transactions that lower the same members never wait on each other in a circle.
CREATE OR REPLACE FUNCTION annotator_walk_lower(lowered jsonb) RETURNS void AS $$
  WITH d AS (SELECT (e->>'user_id')::bigint AS user_id, (e->>'project_id')::bigint AS project_id,
                    (e->>'low')::bigint AS low FROM jsonb_array_elements(lowered) e),
  locked AS (SELECT m.id, min(d.low) AS low FROM annotator_projectmembership m
               JOIN d ON m.project_id = d.project_id AND (d.user_id IS NULL OR m.user_id = d.user_id)
              WHERE m.walked_to > d.low GROUP BY m.id),
  ordered AS (SELECT m.id, l.low FROM annotator_projectmembership m JOIN locked l ON l.id = m.id
               ORDER BY m.id FOR UPDATE OF m)
  UPDATE annotator_projectmembership m SET walked_to = least(m.walked_to, o.low) FROM ordered o WHERE m.id = o.id;
$$ LANGUAGE sql;

CREATE OR REPLACE FUNCTION annotator_walk_lowered_by_assignments() RETURNS trigger AS $$
DECLARE lowered jsonb;
BEGIN
  IF TG_OP = 'DELETE' THEN
    SELECT jsonb_agg(jsonb_build_object('user_id', user_id, 'project_id', project_id, 'low', low)) INTO lowered
        FROM (SELECT o.annotator_id AS user_id, i.project_id, min(o.item_id) AS low
                FROM old_rows o JOIN annotator_item i ON i.id = o.item_id
               WHERE o.status IN {DONE}
               GROUP BY 1, 2) d;
  ELSE
    SELECT jsonb_agg(jsonb_build_object('user_id', user_id, 'project_id', project_id, 'low', low)) INTO lowered
        FROM (SELECT n.annotator_id AS user_id, i.project_id, min(n.item_id) AS low
                FROM new_rows n JOIN old_rows o ON o.id = n.id JOIN annotator_item i ON i.id = n.item_id
               WHERE o.status IN {DONE} AND n.status NOT IN {DONE}
               GROUP BY 1, 2) d;
  END IF;
  PERFORM annotator_walk_lower(lowered) WHERE lowered IS NOT NULL;  -- NULL: a submit, a heartbeat
  RETURN NULL;
END; $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION annotator_walk_lowered_by_items() RETURNS trigger AS $$
DECLARE lowered jsonb;
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT jsonb_agg(jsonb_build_object('project_id', project_id, 'low', low)) INTO lowered
        FROM (SELECT project_id, min(id) AS low FROM new_items WHERE is_open GROUP BY 1) d;
  ELSE
    SELECT jsonb_agg(jsonb_build_object('project_id', project_id, 'low', low)) INTO lowered
        FROM (SELECT n.project_id, min(n.id) AS low
                FROM new_items n JOIN old_items o ON o.id = n.id
               WHERE n.is_open AND NOT o.is_open
               GROUP BY 1) d;
  END IF;
  PERFORM annotator_walk_lower(lowered) WHERE lowered IS NOT NULL;  -- NULL: a submit, a heartbeat
  RETURN NULL;
END; $$ LANGUAGE plpgsql;

"""

# (trigger, event, table, transition tables, function): statement-level, after the change.
TRIGGERS = [
    ("annotator_walk_lowered_by_assignment_updates", "UPDATE", "annotator_assignment",
     "OLD TABLE AS old_rows NEW TABLE AS new_rows", "annotator_walk_lowered_by_assignments"),
    ("annotator_walk_lowered_by_assignment_deletes", "DELETE", "annotator_assignment",
     "OLD TABLE AS old_rows", "annotator_walk_lowered_by_assignments"),
    ("annotator_walk_lowered_by_item_inserts", "INSERT", "annotator_item",
     "NEW TABLE AS new_items", "annotator_walk_lowered_by_items"),
    ("annotator_walk_lowered_by_item_updates", "UPDATE", "annotator_item",
     "OLD TABLE AS old_items NEW TABLE AS new_items", "annotator_walk_lowered_by_items"),
]
PG_FORWARD += "".join(f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {tables}\n"
                      f"  FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n"
                      for name, event, table, tables, function in TRIGGERS)

PG_REVERSE = "".join(f"DROP TRIGGER IF EXISTS {name} ON {table};\n" for name, _, table, _, _ in TRIGGERS) + r"""
DROP FUNCTION IF EXISTS annotator_walk_lowered_by_assignments();
DROP FUNCTION IF EXISTS annotator_walk_lowered_by_items();
DROP FUNCTION IF EXISTS annotator_walk_lower(jsonb);
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_REVERSE, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ("annotator", "0009_stored_markup"),
    ]

    operations = [
        # The column by hand: Django's SQLite AddField rebuilds the table, which breaks 0005's SQLite
        # triggers that update it. ADD COLUMN with a constant default needs no rebuild on either.
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddField(
                model_name="projectmembership",
                name="walked_to",
                field=models.BigIntegerField(db_default=0, default=0, editable=False),
            )],
            database_operations=[migrations.RunSQL(
                "ALTER TABLE annotator_projectmembership ADD COLUMN walked_to bigint NOT NULL DEFAULT 0",
                "ALTER TABLE annotator_projectmembership DROP COLUMN walked_to",
            )],
        ),
        migrations.RunPython(forward, reverse),
    ]
