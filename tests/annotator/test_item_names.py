"""Items imported without an id get a readable name (the first words of the prompt) beside the hash
on item and review pages."""

import io
import json

import pytest

from annotator.formats import prompt_short_name
from annotator.models import Item
from annotator.services import items_import

pytestmark = pytest.mark.django_db

# TRL preference rows carry no id: the importer names them by a hash of their content.
LINE = {"prompt": "Write a limerick about a cat who learns to code in Rust and loves it",
        "chosen": "There once was a cat…", "rejected": "A cat."}


def _import(project, *rows):
    data = "\n".join(json.dumps(r) for r in rows).encode()
    items_import(project=project, stream=io.BytesIO(data), file_format="auto")


@pytest.mark.parametrize(("prompt", "name"), [
    ([{"role": "user", "content": "Write a limerick about a cat who learns to code"}],
     "Write a limerick about a cat who learns…"),
    ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "  Hello\n\n  there  "}],
     "Hello there"),
    ([{"role": "user", "content": "x" * 80}], "x" * 56 + "…"),
    ([{"role": "user", "content": ""}], ""),
    ([], ""),
])
def test_the_name_is_the_first_words_of_the_first_user_message(prompt, name):
    assert prompt_short_name(prompt) == name


def test_only_items_without_their_own_id_get_a_name(project):
    _import(project, LINE, {**LINE, "id": "mine-1", "prompt": "Something else entirely"})
    hashed = Item.objects.get(project=project, external_id__startswith="sha256:")
    own = Item.objects.get(project=project, external_id="mine-1")
    assert hashed.short_name == "Write a limerick about a cat who learns…"
    assert own.short_name == ""


def test_the_item_list_item_page_and_review_pages_show_the_name_beside_the_hash(client_for, project_admin, project):
    _import(project, LINE)
    Item.objects.filter(project=project).update(submitted_count=1)  # judged once: on the review list
    item = Item.objects.get(project=project)
    c = client_for(project_admin)
    short = "Write a limerick about a cat who learns…"
    for url in (f"/projects/{project.id}/items/", f"/projects/{project.id}/items/{item.id}/",
                f"/projects/{project.id}/review/?filter=all", f"/projects/{project.id}/review/{item.id}/"):
        body = c.get(url).content.decode()
        assert f'<span class="item-name">{short}</span>' in body, url
        assert 'class="item-hash"' in body and item.external_id[:10] in body, url
