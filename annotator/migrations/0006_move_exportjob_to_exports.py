# ExportJob moved to the exports app. Only Django's model state changes here: the table is kept
# and renamed by exports/migrations/0001_initial.py, so existing jobs and their files stay.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('annotator', '0005_progress_counters'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='ExportJob')],
            database_operations=[],
        ),
    ]
