"""Published rubric versions are immutable in the database, not only in Python.

A frozen (published or archived) version may only move between published and archived and have
its archived_at/updated_at stamps change (or a user foreign key set to NULL when that user is
deleted). Its criteria can be neither inserted, updated nor deleted. Violations raise an
integrity error on PostgreSQL (SQLSTATE 23000) and SQLite (RAISE(ABORT)).
"""

from django.db import migrations

PG_FORWARD = r"""
CREATE OR REPLACE FUNCTION rubrics_version_guard() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.status <> 'draft' THEN
      RAISE EXCEPTION 'rubric version % is % and cannot be deleted', OLD.id, OLD.status
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF OLD.status = 'draft' THEN
    RETURN NEW;
  END IF;
  IF NEW.status NOT IN ('published', 'archived')
     OR NEW.rubric_set_id <> OLD.rubric_set_id
     OR NEW.number <> OLD.number
     OR NEW.notes <> OLD.notes
     OR NEW.content_hash <> OLD.content_hash
     OR NEW.revision <> OLD.revision
     OR NEW.published_at IS DISTINCT FROM OLD.published_at
     OR NEW.created_at IS DISTINCT FROM OLD.created_at
     OR (NEW.published_by_id IS DISTINCT FROM OLD.published_by_id AND NEW.published_by_id IS NOT NULL)
     OR (NEW.created_by_id IS DISTINCT FROM OLD.created_by_id AND NEW.created_by_id IS NOT NULL)
     OR (NEW.based_on_id IS DISTINCT FROM OLD.based_on_id AND NEW.based_on_id IS NOT NULL)
  THEN
    RAISE EXCEPTION 'rubric version % is % and cannot be changed; create a new draft', OLD.id, OLD.status
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER rubrics_version_guard
  BEFORE UPDATE OR DELETE ON rubrics_rubricversion
  FOR EACH ROW EXECUTE FUNCTION rubrics_version_guard();

CREATE OR REPLACE FUNCTION rubrics_criterion_guard() RETURNS trigger AS $$
DECLARE
  frozen boolean;
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    SELECT status <> 'draft' INTO frozen FROM rubrics_rubricversion WHERE id = OLD.version_id;
    IF frozen THEN
      RAISE EXCEPTION 'criterion % belongs to a frozen rubric version', OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    SELECT status <> 'draft' INTO frozen FROM rubrics_rubricversion WHERE id = NEW.version_id;
    IF frozen THEN
      RAISE EXCEPTION 'rubric version % is frozen; criteria cannot be added or moved into it', NEW.version_id
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
  END IF;
  RETURN OLD;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER rubrics_criterion_guard
  BEFORE INSERT OR UPDATE OR DELETE ON rubrics_criterion
  FOR EACH ROW EXECUTE FUNCTION rubrics_criterion_guard();
"""

PG_REVERSE = r"""
DROP TRIGGER IF EXISTS rubrics_criterion_guard ON rubrics_criterion;
DROP FUNCTION IF EXISTS rubrics_criterion_guard();
DROP TRIGGER IF EXISTS rubrics_version_guard ON rubrics_rubricversion;
DROP FUNCTION IF EXISTS rubrics_version_guard();
"""

SQLITE_FORWARD = [
    """
    CREATE TRIGGER rubrics_version_no_update BEFORE UPDATE ON rubrics_rubricversion
    WHEN OLD.status <> 'draft' AND (
         NEW.status NOT IN ('published', 'archived')
      OR NEW.rubric_set_id <> OLD.rubric_set_id OR NEW.number <> OLD.number
      OR NEW.notes <> OLD.notes OR NEW.content_hash <> OLD.content_hash
      OR NEW.revision <> OLD.revision
      OR NEW.published_at IS NOT OLD.published_at OR NEW.created_at IS NOT OLD.created_at
      OR (NEW.published_by_id IS NOT OLD.published_by_id AND NEW.published_by_id IS NOT NULL)
      OR (NEW.created_by_id IS NOT OLD.created_by_id AND NEW.created_by_id IS NOT NULL)
      OR (NEW.based_on_id IS NOT OLD.based_on_id AND NEW.based_on_id IS NOT NULL))
    BEGIN SELECT RAISE(ABORT, 'rubric version is frozen and cannot be changed; create a new draft'); END;
    """,
    """
    CREATE TRIGGER rubrics_version_no_delete BEFORE DELETE ON rubrics_rubricversion
    WHEN OLD.status <> 'draft'
    BEGIN SELECT RAISE(ABORT, 'rubric version is frozen and cannot be deleted'); END;
    """,
    """
    CREATE TRIGGER rubrics_criterion_no_insert BEFORE INSERT ON rubrics_criterion
    WHEN (SELECT status FROM rubrics_rubricversion WHERE id = NEW.version_id) <> 'draft'
    BEGIN SELECT RAISE(ABORT, 'rubric version is frozen; criteria cannot be added'); END;
    """,
    """
    CREATE TRIGGER rubrics_criterion_no_update BEFORE UPDATE ON rubrics_criterion
    WHEN (SELECT status FROM rubrics_rubricversion WHERE id = OLD.version_id) <> 'draft'
      OR (SELECT status FROM rubrics_rubricversion WHERE id = NEW.version_id) <> 'draft'
    BEGIN SELECT RAISE(ABORT, 'criterion belongs to a frozen rubric version'); END;
    """,
    """
    CREATE TRIGGER rubrics_criterion_no_delete BEFORE DELETE ON rubrics_criterion
    WHEN (SELECT status FROM rubrics_rubricversion WHERE id = OLD.version_id) <> 'draft'
    BEGIN SELECT RAISE(ABORT, 'criterion belongs to a frozen rubric version'); END;
    """,
]
SQLITE_REVERSE = [
    f"DROP TRIGGER IF EXISTS {name};"
    for name in ("rubrics_version_no_update", "rubrics_version_no_delete", "rubrics_criterion_no_insert",
                 "rubrics_criterion_no_update", "rubrics_criterion_no_delete")
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)
    else:
        raise RuntimeError(f"No immutability triggers for database vendor {vendor!r}.")


def reverse(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_REVERSE, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_REVERSE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("rubrics", "0001_initial")]
    operations = [migrations.RunPython(forward, reverse)]
