"""Items' markup rendered once after import and stored (annotator/services/markup.py), and what the
comparison page does with it: stored HTML when current, its own rendering otherwise."""

import json

import psycopg
import pytest
from django.db import connection

from annotator import tasks
from annotator.models import Item, Response
from annotator.services import items_import_text
from annotator.services import markup as markup_service
from annotator.services.markup import items_render_markup, markup_reconcile
from config.markup import RENDERER_VERSION
from tests.factories import ItemFactory

ANNOTATE = "/projects/{}/annotate/"


@pytest.fixture
def sent(monkeypatch):
    """The render hints sent to the broker (project ids), instead of sending them."""
    from config import celery

    hints = []
    monkeypatch.setattr(celery, "send_task_message", lambda task, *args: hints.append((task.name, *args)) or True)
    monkeypatch.setattr(tasks, "send_task_message", lambda task, *args: hints.append((task.name, *args)) or True)
    return hints


@pytest.fixture
def rendered_texts(monkeypatch):
    """Every text rendered to HTML from now on (config.markup's one renderer)."""
    from config import markup

    texts = []
    real = markup.render_markdown_uncached
    monkeypatch.setattr(markup, "render_markdown_uncached", lambda text: texts.append(text) or real(text))
    monkeypatch.setattr(markup_service, "render_markdown_uncached", lambda text: texts.append(text) or real(text))
    # Keys no earlier test left in the caches: a text is rendered, not found.
    monkeypatch.setattr(markup, "_local", type(markup._local)())
    monkeypatch.setattr(markup, "_local_chars", 0)
    return texts


@pytest.mark.django_db
def test_a_worker_renders_prompts_and_responses_once_and_stores_them(project):
    item = ItemFactory(project=project, prompt=[{"role": "system", "content": "Be *brief*."},
                                                 {"role": "user", "content": "Say `hello`."}],
                       responses=["**Hello**", "```python\nprint('hi')\n```"])
    assert items_render_markup(project_id=project.id) == (1, False)
    item.refresh_from_db()
    assert item.markup_version == RENDERER_VERSION
    assert item.prompt_html == ["<p>Be <em>brief</em>.</p>\n", "<p>Say <code>hello</code>.</p>\n"]
    first, second = item.responses.order_by("position")
    assert first.content_html == "<p><strong>Hello</strong></p>\n"
    assert 'class="highlight"' in second.content_html
    # Done: nothing left to render, and no updated_at moved (an export increment must not see a change).
    assert items_render_markup(project_id=project.id) == (0, False)
    assert Item.objects.get(pk=item.pk).updated_at == item.updated_at


@pytest.mark.django_db
def test_the_page_shows_the_stored_html_and_renders_none_of_the_items_texts(client_for, annotator, project,
                                                                             rendered_texts):
    item = ItemFactory(project=project, responses=["First **answer** unique-a", "Second answer unique-b"])
    items_render_markup(project_id=project.id)
    # The page must take the stored HTML as it is: mark it, and count what is rendered meanwhile.
    Response.objects.filter(item=item, position=0).update(content_html="<p>stored-first</p>")
    rendered_texts.clear()
    body = client_for(annotator).get(ANNOTATE.format(project.id)).content.decode()
    assert "stored-first" in body and "Second answer unique-b" in body
    assert not [t for t in rendered_texts if t and ("unique-" in t or "Say hello" in t)]


@pytest.mark.django_db
@pytest.mark.parametrize("version", [0, RENDERER_VERSION + 1])
def test_an_item_not_rendered_or_rendered_by_another_version_is_rendered_on_the_page(client_for, annotator, project,
                                                                                    version):
    item = ItemFactory(project=project, responses=["Fresh **answer**", "Other"])
    Item.objects.filter(pk=item.pk).update(markup_version=version, prompt_html=["<p>stale</p>"])
    Response.objects.filter(item=item).update(content_html="<p>stale</p>")
    body = client_for(annotator).get(ANNOTATE.format(project.id)).content.decode()
    assert "<strong>answer</strong>" in body and "stale" not in body


@pytest.mark.django_db
def test_a_reimport_that_changes_an_item_has_it_rendered_again(client_for, annotator, project, sent,
                                                               django_capture_on_commit_callbacks):
    def line(text):
        return json.dumps({"id": "q1", "prompt": "Question?", "responses": [
            {"id": "a", "content": text}, {"id": "b", "content": "B"}]}) + "\n"

    with django_capture_on_commit_callbacks(execute=True):
        items_import_text(project=project, text=line("Old *text*"))
    assert sent == [("annotator.tasks.render_markup", project.id)]  # the import's hint, after its commit
    items_render_markup(project_id=project.id)
    assert Item.objects.get().markup_version == RENDERER_VERSION
    with django_capture_on_commit_callbacks(execute=True):
        items_import_text(project=project, text=line("New **text**"))
    assert Item.objects.get().markup_version == 0 and len(sent) == 2
    body = client_for(annotator).get(ANNOTATE.format(project.id)).content.decode()
    assert "<strong>text</strong>" in body and "<em>text</em>" not in body
    items_render_markup(project_id=project.id)
    assert Response.objects.get(external_id="a").content_html == "<p>New <strong>text</strong></p>\n"
    # An import that changes nothing sends no hint.
    with django_capture_on_commit_callbacks(execute=True):
        items_import_text(project=project, text=line("New **text**"))
    assert len(sent) == 2


@pytest.mark.django_db
def test_an_item_changed_while_it_was_rendered_is_left_for_the_next_pass(project, monkeypatch):
    item = ItemFactory(project=project, responses=["A", "B"])
    real = markup_service._render_batch

    def changed_meanwhile(batch):
        Item.objects.filter(pk=item.pk).update(content_hash="re-imported")  # as a concurrent import would
        return real(batch)

    monkeypatch.setattr(markup_service, "_render_batch", changed_meanwhile)
    assert items_render_markup(project_id=project.id) == (0, False)
    assert Item.objects.get(pk=item.pk).markup_version == 0
    monkeypatch.setattr(markup_service, "_render_batch", real)
    assert items_render_markup(project_id=project.id) == (1, False)


@pytest.mark.django_db
def test_items_are_rendered_oldest_first_in_bounded_steps(project, monkeypatch):
    monkeypatch.setattr(markup_service, "MARKUP_BATCH", 2)
    items = [ItemFactory(project=project) for _ in range(5)]
    assert items_render_markup(project_id=project.id, limit=3) == (3, True)
    versions = dict(Item.objects.values_list("pk", "markup_version"))
    assert [versions[i.pk] for i in items] == [RENDERER_VERSION] * 3 + [0, 0]
    assert items_render_markup(project_id=project.id) == (2, False)


@pytest.mark.django_db
def test_the_task_renders_for_its_time_then_sends_the_rest_on(project, monkeypatch, sent):
    monkeypatch.setattr(markup_service, "MARKUP_BATCH", 2)
    monkeypatch.setattr(tasks, "MARKUP_TASK_SECONDS", 0)  # one batch per task
    for _ in range(3):
        ItemFactory(project=project)
    assert tasks.render_markup(project.id) == 2
    assert sent == [("annotator.tasks.render_markup", project.id)]
    assert tasks.render_markup(project.id) == 1
    assert len(sent) == 1  # done: nothing sent on


@pytest.mark.django_db
def test_the_reconciler_sends_projects_with_items_to_render(project, sent):
    ItemFactory(project=project)
    assert markup_reconcile() == [project.id]
    items_render_markup(project_id=project.id)
    assert markup_reconcile() == []


@pytest.mark.django_db(transaction=True)
def test_one_worker_renders_a_project_at_a_time_and_the_reconciler_leaves_it_alone(project, sent):
    if connection.vendor != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    ItemFactory(project=project)
    params = connection.get_connection_params()
    other = psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}, autocommit=True)
    try:  # another worker, rendering this project
        other.execute("SELECT pg_advisory_lock(%s)", [markup_service._lock_key(project.id)])
        assert items_render_markup(project_id=project.id) == (0, False)
        assert markup_reconcile() == []
        other.execute("SELECT pg_advisory_unlock(%s)", [markup_service._lock_key(project.id)])
        assert markup_reconcile() == [project.id]
        assert items_render_markup(project_id=project.id) == (1, False)
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
def test_a_batch_whose_rows_an_import_holds_is_left_for_the_next_pass(project):
    if connection.vendor != "postgresql":
        pytest.skip("row locks and lock_timeout are PostgreSQL's")
    item = ItemFactory(project=project)
    params = connection.get_connection_params()
    other = psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"})
    try:  # an import changing this item's responses, not committed yet
        other.execute("SELECT id FROM annotator_response WHERE item_id = %s FOR UPDATE", [item.pk])
        assert items_render_markup(project_id=project.id) == (0, False)
        assert Item.objects.get(pk=item.pk).markup_version == 0
    finally:
        other.close()
    assert items_render_markup(project_id=project.id) == (1, False)
