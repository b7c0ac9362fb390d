# ExportJob, moved here from the annotator app with its rows: the model state is taken over from
# annotator.ExportJob (annotator/migrations/0006), then the table is renamed to exports_exportjob
# and the content type (with its permissions) follows the model.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _move_content_type(apps, schema_editor, old: str, new: str):
    ContentType = apps.get_model('contenttypes', 'ContentType')
    if ContentType.objects.filter(app_label=new, model='exportjob').exists():
        return
    ContentType.objects.filter(app_label=old, model='exportjob').update(app_label=new)


def forwards(apps, schema_editor):
    _move_content_type(apps, schema_editor, 'annotator', 'exports')


def backwards(apps, schema_editor):
    _move_content_type(apps, schema_editor, 'exports', 'annotator')


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('annotator', '0006_move_exportjob_to_exports'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ExportJob',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('export_format', models.CharField(max_length=32)),
                        ('file_format', models.CharField(default='parquet', max_length=16)),
                        ('params', models.JSONField(blank=True, default=dict)),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed')], default='queued', max_length=16)),
                        ('file_path', models.CharField(blank=True, max_length=500)),
                        ('row_count', models.PositiveIntegerField(default=0)),
                        ('error', models.TextField(blank=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('requested_by', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='export_jobs', to='annotator.project')),
                    ],
                    options={
                        'ordering': ['-created_at'],
                        'db_table': 'annotator_exportjob',
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name='exportjob', table=None),
        migrations.RunPython(forwards, backwards),
    ]
