# ExportJob now belongs to the exports app (exports/migrations/0001_initial.py): removed from this
# app's state only; the table stays where it is.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('annotator', '0003_drop_redundant_fk_indexes'),
        ('exports', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='ExportJob')],
            database_operations=[],
        ),
    ]
