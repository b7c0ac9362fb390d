# The default of Project.lease_minutes becomes ASSIGNMENT_LEASE_MINUTES. A Python-side default only:
# nothing changes in the database (state only, so SQLite does not rebuild the table and its triggers).

import django.core.validators
from django.db import migrations, models

import annotator.models


class Migration(migrations.Migration):

    dependencies = [
        ('annotator', '0006_move_exportjob_to_exports'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='project',
                    name='lease_minutes',
                    field=models.PositiveIntegerField(default=annotator.models.default_lease_minutes, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(1440)]),
                ),
            ],
            database_operations=[],
        ),
    ]
