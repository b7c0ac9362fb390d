"""Progress counters (projects: items, judgments; members: judged, skipped), kept by triggers."""


from django.db import migrations, models



# --- The counters' triggers --------------------------------------------------------------------
# Why triggers and not service code: items arrive by COPY (config/db.py), bulk_create, the ORM and
# test factories; assignments change in the queue, judgment and project services. A trigger keeps
# each counter exact in the same transaction whichever path wrote the row, and costs the hot path
# no extra round trip. Items are counted per statement (one UPDATE per COPY of 100,000 items).

PG_FORWARD = r"""
CREATE OR REPLACE FUNCTION annotator_items_inserted() RETURNS trigger AS $$
BEGIN
  UPDATE annotator_project p SET item_count = p.item_count + n.c, judgment_count = p.judgment_count + n.s
    FROM (SELECT project_id, count(*) AS c, coalesce(sum(submitted_count), 0) AS s
          FROM new_items GROUP BY project_id) n
   WHERE p.id = n.project_id;
  RETURN NULL;
END; $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION annotator_items_deleted() RETURNS trigger AS $$
BEGIN
  UPDATE annotator_project p SET item_count = p.item_count - o.c, judgment_count = p.judgment_count - o.s
    FROM (SELECT project_id, count(*) AS c, coalesce(sum(submitted_count), 0) AS s
          FROM old_items GROUP BY project_id) o
   WHERE p.id = o.project_id;
  RETURN NULL;
END; $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION annotator_item_submitted_changed() RETURNS trigger AS $$
BEGIN
  UPDATE annotator_project SET judgment_count = judgment_count + NEW.submitted_count - OLD.submitted_count
   WHERE id = NEW.project_id;
  RETURN NULL;
END; $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION annotator_assignment_status_changed() RETURNS trigger AS $$
DECLARE
  dj integer := 0;
  ds integer := 0;
  row_item bigint;
  row_user integer;
BEGIN
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    dj := dj + (NEW.status = 'submitted')::integer;
    ds := ds + (NEW.status = 'skipped')::integer;
    row_item := NEW.item_id; row_user := NEW.annotator_id;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    dj := dj - (OLD.status = 'submitted')::integer;
    ds := ds - (OLD.status = 'skipped')::integer;
    row_item := OLD.item_id; row_user := OLD.annotator_id;
  END IF;
  IF dj <> 0 OR ds <> 0 THEN
    UPDATE annotator_projectmembership SET judged_count = judged_count + dj, skipped_count = skipped_count + ds
     WHERE user_id = row_user AND project_id = (SELECT project_id FROM annotator_item WHERE id = row_item);
  END IF;
  RETURN NULL;
END; $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION annotator_membership_counted() RETURNS trigger AS $$
BEGIN
  SELECT count(*) FILTER (WHERE a.status = 'submitted'), count(*) FILTER (WHERE a.status = 'skipped')
    INTO NEW.judged_count, NEW.skipped_count
    FROM annotator_assignment a JOIN annotator_item i ON i.id = a.item_id
   WHERE a.annotator_id = NEW.user_id AND i.project_id = NEW.project_id AND a.status IN ('submitted', 'skipped');
  RETURN NEW;
END; $$ LANGUAGE plpgsql;

CREATE TRIGGER annotator_items_inserted AFTER INSERT ON annotator_item
  REFERENCING NEW TABLE AS new_items FOR EACH STATEMENT EXECUTE FUNCTION annotator_items_inserted();
CREATE TRIGGER annotator_items_deleted AFTER DELETE ON annotator_item
  REFERENCING OLD TABLE AS old_items FOR EACH STATEMENT EXECUTE FUNCTION annotator_items_deleted();
CREATE TRIGGER annotator_item_submitted_changed AFTER UPDATE OF submitted_count ON annotator_item
  FOR EACH ROW WHEN (OLD.submitted_count IS DISTINCT FROM NEW.submitted_count)
  EXECUTE FUNCTION annotator_item_submitted_changed();
CREATE TRIGGER annotator_assignment_status_changed AFTER INSERT OR DELETE OR UPDATE OF status
  ON annotator_assignment FOR EACH ROW EXECUTE FUNCTION annotator_assignment_status_changed();
CREATE TRIGGER annotator_membership_counted BEFORE INSERT ON annotator_projectmembership
  FOR EACH ROW EXECUTE FUNCTION annotator_membership_counted();
"""

PG_REVERSE = r"""
DROP TRIGGER IF EXISTS annotator_membership_counted ON annotator_projectmembership;
DROP TRIGGER IF EXISTS annotator_assignment_status_changed ON annotator_assignment;
DROP TRIGGER IF EXISTS annotator_item_submitted_changed ON annotator_item;
DROP TRIGGER IF EXISTS annotator_items_deleted ON annotator_item;
DROP TRIGGER IF EXISTS annotator_items_inserted ON annotator_item;
DROP FUNCTION IF EXISTS annotator_membership_counted();
DROP FUNCTION IF EXISTS annotator_assignment_status_changed();
DROP FUNCTION IF EXISTS annotator_item_submitted_changed();
DROP FUNCTION IF EXISTS annotator_items_deleted();
DROP FUNCTION IF EXISTS annotator_items_inserted();
"""

_SQLITE_MEMBER = ("UPDATE annotator_projectmembership SET judged_count = judged_count + {dj}, "
                  "skipped_count = skipped_count + {ds} WHERE user_id = {row}.annotator_id "
                  "AND project_id = (SELECT project_id FROM annotator_item WHERE id = {row}.item_id);")
SQLITE_FORWARD = [
    """CREATE TRIGGER annotator_item_inserted AFTER INSERT ON annotator_item BEGIN
       UPDATE annotator_project SET item_count = item_count + 1, judgment_count = judgment_count + NEW.submitted_count
        WHERE id = NEW.project_id; END;""",
    """CREATE TRIGGER annotator_item_deleted AFTER DELETE ON annotator_item BEGIN
       UPDATE annotator_project SET item_count = item_count - 1, judgment_count = judgment_count - OLD.submitted_count
        WHERE id = OLD.project_id; END;""",
    """CREATE TRIGGER annotator_item_submitted_changed AFTER UPDATE OF submitted_count ON annotator_item
       WHEN OLD.submitted_count <> NEW.submitted_count BEGIN
       UPDATE annotator_project SET judgment_count = judgment_count + NEW.submitted_count - OLD.submitted_count
        WHERE id = NEW.project_id; END;""",
    "CREATE TRIGGER annotator_assignment_inserted AFTER INSERT ON annotator_assignment BEGIN "
    + _SQLITE_MEMBER.format(dj="(NEW.status = 'submitted')", ds="(NEW.status = 'skipped')", row="NEW") + " END;",
    "CREATE TRIGGER annotator_assignment_deleted AFTER DELETE ON annotator_assignment BEGIN "
    + _SQLITE_MEMBER.format(dj="-(OLD.status = 'submitted')", ds="-(OLD.status = 'skipped')", row="OLD") + " END;",
    "CREATE TRIGGER annotator_assignment_status_changed AFTER UPDATE OF status ON annotator_assignment "
    "WHEN OLD.status <> NEW.status BEGIN "
    + _SQLITE_MEMBER.format(dj="(NEW.status = 'submitted') - (OLD.status = 'submitted')",
                            ds="(NEW.status = 'skipped') - (OLD.status = 'skipped')", row="NEW") + " END;",
    """CREATE TRIGGER annotator_membership_counted AFTER INSERT ON annotator_projectmembership BEGIN
       UPDATE annotator_projectmembership SET
         judged_count = (SELECT count(*) FROM annotator_assignment a JOIN annotator_item i ON i.id = a.item_id
                          WHERE a.annotator_id = NEW.user_id AND i.project_id = NEW.project_id AND a.status = 'submitted'),
         skipped_count = (SELECT count(*) FROM annotator_assignment a JOIN annotator_item i ON i.id = a.item_id
                          WHERE a.annotator_id = NEW.user_id AND i.project_id = NEW.project_id AND a.status = 'skipped')
        WHERE id = NEW.id; END;""",
]
SQLITE_REVERSE = [
    f"DROP TRIGGER IF EXISTS {name};"
    for name in ("annotator_item_inserted", "annotator_item_deleted", "annotator_item_submitted_changed",
                 "annotator_assignment_inserted", "annotator_assignment_deleted",
                 "annotator_assignment_status_changed", "annotator_membership_counted")
]

BACKFILL = [
    """UPDATE annotator_project SET
         item_count = (SELECT count(*) FROM annotator_item i WHERE i.project_id = annotator_project.id),
         judgment_count = (SELECT coalesce(sum(submitted_count), 0) FROM annotator_item i
                           WHERE i.project_id = annotator_project.id)""",
    """UPDATE annotator_projectmembership SET
         judged_count = (SELECT count(*) FROM annotator_assignment a JOIN annotator_item i ON i.id = a.item_id
                          WHERE a.annotator_id = annotator_projectmembership.user_id
                            AND i.project_id = annotator_projectmembership.project_id AND a.status = 'submitted'),
         skipped_count = (SELECT count(*) FROM annotator_assignment a JOIN annotator_item i ON i.id = a.item_id
                          WHERE a.annotator_id = annotator_projectmembership.user_id
                            AND i.project_id = annotator_projectmembership.project_id AND a.status = 'skipped')""",
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)
    else:
        raise RuntimeError(f"No counter triggers for database vendor {vendor!r}.")
    for statement in BACKFILL:
        schema_editor.execute(statement)


def reverse(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_REVERSE, params=None)
    else:
        for statement in SQLITE_REVERSE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('annotator', '0004_move_apitoken_to_accounts'),
    ]

    operations = [
        migrations.AddField(
            model_name='project',
            name='item_count',
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name='project',
            name='judgment_count',
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name='projectmembership',
            name='judged_count',
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name='projectmembership',
            name='skipped_count',
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(forward, reverse),
    ]
