# ApiToken moved to the accounts app. Only Django's model state changes here: the table is kept
# and renamed by accounts/migrations/0001_initial.py, so existing tokens keep working.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('annotator', '0003_drop_redundant_fk_indexes'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='ApiToken')],
            database_operations=[],
        ),
    ]
