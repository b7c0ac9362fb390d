"""PostgreSQL: the progress counters' assignment and item-count triggers run once per statement.

0005 kept the members' and projects' counters with row-level triggers. A statement that writes many
rows (a judgment import, a bulk generator) then updated the same few counter rows once per row,
inside one transaction: every update walks the chain of versions the earlier ones left, which
nothing can prune before the transaction ends, so the cost grew with the square of the rows (an
insert of 1,000,000 submitted assignments ran for more than 20 minutes). Statement-level triggers
with transition tables aggregate first and update each counter row once per statement. SQLite keeps
0005's row triggers (it has no statement-level ones, and its updates do not leave versions behind).
"""

from django.db import migrations

PG_FORWARD = r"""
DROP TRIGGER IF EXISTS annotator_assignment_status_changed ON annotator_assignment;
DROP TRIGGER IF EXISTS annotator_item_submitted_changed ON annotator_item;
DROP FUNCTION IF EXISTS annotator_assignment_status_changed();
DROP FUNCTION IF EXISTS annotator_item_submitted_changed();

-- Members' judged/skipped counters: one aggregate per (annotator, project) per statement. Assumes an
-- assignment keeps its annotator and item (nothing changes them).
CREATE OR REPLACE FUNCTION annotator_assignments_counted() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE annotator_projectmembership m
       SET judged_count = m.judged_count + d.dj, skipped_count = m.skipped_count + d.ds
      FROM (SELECT n.annotator_id AS user_id, i.project_id,
                   count(*) FILTER (WHERE n.status = 'submitted') AS dj,
                   count(*) FILTER (WHERE n.status = 'skipped') AS ds
              FROM new_rows n JOIN annotator_item i ON i.id = n.item_id
             WHERE n.status IN ('submitted', 'skipped')
             GROUP BY 1, 2) d
     WHERE m.user_id = d.user_id AND m.project_id = d.project_id;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE annotator_projectmembership m
       SET judged_count = m.judged_count - d.dj, skipped_count = m.skipped_count - d.ds
      FROM (SELECT o.annotator_id AS user_id, i.project_id,
                   count(*) FILTER (WHERE o.status = 'submitted') AS dj,
                   count(*) FILTER (WHERE o.status = 'skipped') AS ds
              FROM old_rows o JOIN annotator_item i ON i.id = o.item_id
             WHERE o.status IN ('submitted', 'skipped')
             GROUP BY 1, 2) d
     WHERE m.user_id = d.user_id AND m.project_id = d.project_id;
  ELSE
    UPDATE annotator_projectmembership m
       SET judged_count = m.judged_count + d.dj, skipped_count = m.skipped_count + d.ds
      FROM (SELECT n.annotator_id AS user_id, i.project_id,
                   sum((n.status = 'submitted')::integer - (o.status = 'submitted')::integer) AS dj,
                   sum((n.status = 'skipped')::integer - (o.status = 'skipped')::integer) AS ds
              FROM new_rows n JOIN old_rows o ON o.id = n.id JOIN annotator_item i ON i.id = n.item_id
             WHERE n.status <> o.status
               AND (n.status IN ('submitted', 'skipped') OR o.status IN ('submitted', 'skipped'))
             GROUP BY 1, 2) d
     WHERE m.user_id = d.user_id AND m.project_id = d.project_id AND (d.dj <> 0 OR d.ds <> 0);
  END IF;
  RETURN NULL;
END; $$ LANGUAGE plpgsql;

-- Projects' judgment counters: the change of the items' submitted counts, per project per statement.
CREATE OR REPLACE FUNCTION annotator_items_submitted_changed() RETURNS trigger AS $$
BEGIN
  UPDATE annotator_project p SET judgment_count = p.judgment_count + d.delta
    FROM (SELECT n.project_id, sum(n.submitted_count - o.submitted_count) AS delta
            FROM new_items n JOIN old_items o ON o.id = n.id
           WHERE n.submitted_count <> o.submitted_count
           GROUP BY 1) d
   WHERE p.id = d.project_id AND d.delta <> 0;
  RETURN NULL;
END; $$ LANGUAGE plpgsql;

CREATE TRIGGER annotator_assignments_inserted AFTER INSERT ON annotator_assignment
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION annotator_assignments_counted();
CREATE TRIGGER annotator_assignments_deleted AFTER DELETE ON annotator_assignment
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION annotator_assignments_counted();
CREATE TRIGGER annotator_assignments_updated AFTER UPDATE ON annotator_assignment
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION annotator_assignments_counted();
CREATE TRIGGER annotator_items_submitted_changed AFTER UPDATE ON annotator_item
  REFERENCING OLD TABLE AS old_items NEW TABLE AS new_items
  FOR EACH STATEMENT EXECUTE FUNCTION annotator_items_submitted_changed();
"""

PG_REVERSE = r"""
DROP TRIGGER IF EXISTS annotator_assignments_inserted ON annotator_assignment;
DROP TRIGGER IF EXISTS annotator_assignments_deleted ON annotator_assignment;
DROP TRIGGER IF EXISTS annotator_assignments_updated ON annotator_assignment;
DROP TRIGGER IF EXISTS annotator_items_submitted_changed ON annotator_item;
DROP FUNCTION IF EXISTS annotator_assignments_counted();
DROP FUNCTION IF EXISTS annotator_items_submitted_changed();
"""


def _previous_triggers() -> str:
    """0005's row-level triggers, for going back."""
    from importlib import import_module

    sql = import_module("annotator.migrations.0005_progress_counters").PG_FORWARD
    keep = ("annotator_assignment_status_changed", "annotator_item_submitted_changed")
    functions = [block for block in sql.split("CREATE OR REPLACE FUNCTION ")[1:]
                 if block.startswith(keep)]
    triggers = [t for t in sql.split(";\nCREATE TRIGGER ")[1:] if t.startswith(keep)]
    return ("".join("CREATE OR REPLACE FUNCTION " + f.split("\nCREATE TRIGGER ")[0] for f in functions)
            + "".join("CREATE TRIGGER " + t.rstrip().rstrip(";") + ";\n" for t in triggers))


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_REVERSE + _previous_triggers(), params=None)


class Migration(migrations.Migration):

    dependencies = [
        ("annotator", "0007_project_lease_minutes_from_setting"),
    ]

    operations = [migrations.RunPython(forward, reverse)]
