# ApiToken, moved here from the annotator app with its rows: the model state is taken over from
# annotator.ApiToken (annotator/migrations/0004), then the table is renamed to accounts_apitoken
# and the content type (with its permissions) follows the model.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _move_content_type(apps, schema_editor, old: str, new: str):
    ContentType = apps.get_model('contenttypes', 'ContentType')
    if ContentType.objects.filter(app_label=new, model='apitoken').exists():
        return
    ContentType.objects.filter(app_label=old, model='apitoken').update(app_label=new)


def forwards(apps, schema_editor):
    _move_content_type(apps, schema_editor, 'annotator', 'accounts')


def backwards(apps, schema_editor):
    _move_content_type(apps, schema_editor, 'accounts', 'annotator')


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('annotator', '0004_move_apitoken_to_accounts'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ApiToken',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100)),
                        ('prefix', models.CharField(help_text='Public part, for lookup.', max_length=16, unique=True)),
                        ('token_hash', models.CharField(max_length=64)),
                        ('expires_at', models.DateTimeField(blank=True, null=True)),
                        ('revoked_at', models.DateTimeField(blank=True, null=True)),
                        ('last_used_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='api_tokens', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'ordering': ['-created_at'],
                        'db_table': 'annotator_apitoken',
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name='apitoken', table=None),
        migrations.RunPython(forwards, backwards),
    ]
