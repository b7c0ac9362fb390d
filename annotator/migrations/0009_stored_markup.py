"""Stored markup of items and responses (annotator/services/markup.py).

On SQLite, adding these columns makes Django rebuild annotator_item (a new table, the rows copied,
the old one dropped), which drops the counter triggers on it and breaks those that name it: they are
dropped before and created again after, as 0005 wrote them. PostgreSQL adds the columns in place.
"""

import importlib

from django.db import migrations, models

_counters = importlib.import_module("annotator.migrations.0005_progress_counters")


def _sqlite_triggers(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "sqlite":
            for statement in statements:
                schema_editor.execute(statement)
    return run


_drop, _create = _sqlite_triggers(_counters.SQLITE_REVERSE), _sqlite_triggers(_counters.SQLITE_FORWARD)


class Migration(migrations.Migration):

    dependencies = [
        ('annotator', '0008_statement_level_counter_triggers'),
    ]

    operations = [
        migrations.RunPython(_drop, _create),
        migrations.AddField(
            model_name='item',
            name='markup_version',
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='item',
            name='prompt_html',
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name='response',
            name='content_html',
            field=models.TextField(blank=True, default=''),
        ),
        migrations.AddIndex(
            model_name='item',
            index=models.Index(condition=models.Q(('markup_version', 0)), fields=['project', 'id'],
                               name='item_markup_todo'),
        ),
        migrations.RunPython(_create, _drop),
    ]
