"""Prompts are normalised at import to what TRL's trainers and chat templates accept (issue 14, #4):
roles mapped or refused naming the line and field, a system message only first, a user turn last."""

import json

import pytest

from annotator.models import Item
from annotator.services import items_import_text
from config.errors import ApplicationError


def jsonl(*rows) -> str:
    return "\n".join(json.dumps(r) for r in rows) + "\n"


def native(i, messages):
    return {"id": f"n{i}", "messages": messages, "responses": [{"content": "a"}, {"content": "b"}]}


OK_TRL = {"prompt": "Hi", "chosen": "Hello", "rejected": "Go away"}


@pytest.mark.django_db
def test_a_developer_message_is_stored_as_the_system_message(project):
    items_import_text(project=project, text=jsonl(native(1, [
        {"role": "developer", "content": "Answer in French."}, {"role": "user", "content": "Hi"}])))
    assert Item.objects.get().prompt == [{"role": "system", "content": "Answer in French."},
                                         {"role": "user", "content": "Hi"}]


@pytest.mark.django_db
def test_sharegpt_spellings_of_the_roles_are_mapped(project):
    items_import_text(project=project, text=jsonl({
        "prompt": [{"role": "human", "content": "2+2?"}, {"role": "gpt", "content": "4"},
                   {"role": "human", "content": "and 3+3?"}],
        "chosen": [{"role": "model", "content": "6"}], "rejected": [{"role": "assistant", "content": "7"}]}))
    item = Item.objects.get()
    assert [m["role"] for m in item.prompt] == ["user", "assistant", "user"]
    assert item.responses.get(position=0).content == "6"


BAD_PROMPTS = [
    # (file, line, field, words of the message)
    ([OK_TRL, {"prompt": [{"role": "user", "content": "Weather?"}, {"role": "tool", "content": "{\"t\": 21}"},
                          {"role": "user", "content": "So?"}], "chosen": "Warm", "rejected": "Cold"}],
     2, "prompt[1].role", "tool turns are not supported"),
    ([OK_TRL, {"prompt": [{"role": "user", "content": "Hi"}, {"role": "system", "content": "Be brief."},
                          {"role": "user", "content": "Again"}], "chosen": "Hi", "rejected": "Hey"}],
     2, "prompt[1].role", "system message must come first"),
    ([OK_TRL, {"prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello, I"}],
               "chosen": "am fine", "rejected": "am bad"}],
     2, "prompt[1].role", "must end with a user turn"),
    ([OK_TRL, {"prompt": [{"role": "system", "content": "Be brief."}], "chosen": "Hi", "rejected": "Hey"}],
     2, "prompt[0].role", "must end with a user turn"),
    ([native(1, [{"role": "user", "content": "Hi"}]),
      native(2, [{"role": "user", "content": "Hi"}, {"role": "developer", "content": "Be brief."},
                 {"role": "user", "content": "Go"}])],
     2, "messages[1].role", "system message must come first"),
    ([native(1, [{"role": "robot", "content": "Hi"}])], 1, "messages[0].role", "developer is read as system"),
    ([{"chosen": [{"role": "user", "content": "Q"}, {"role": "system", "content": "S"},
                  {"role": "user", "content": "Q2"}, {"role": "assistant", "content": "A"}],
       "rejected": [{"role": "user", "content": "Q"}, {"role": "system", "content": "S"},
                    {"role": "user", "content": "Q2"}, {"role": "assistant", "content": "B"}]}],
     1, "chosen[1].role", "system message must come first"),
    ([{"prompt": "<extra_id_0>System\nBe brief.\n<extra_id_1>Assistant\nHi", "response_1": "a",
       "response_2": "b", "preference_strength": 1}], 1, "prompt", "<extra_id_1>User"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("rows, line, field, words", BAD_PROMPTS)
def test_a_prompt_trainers_cannot_take_is_refused_naming_line_and_field(project, rows, line, field, words):
    with pytest.raises(ApplicationError) as exc:
        items_import_text(project=project, text=jsonl(*rows))
    assert exc.value.extra == {"line": line, "field": field}
    assert words in exc.value.message
    assert not Item.objects.exists()


@pytest.mark.django_db
def test_a_helpsteer2_system_prompt_is_read_as_the_system_message(project):
    items_import_text(project=project, text=jsonl({
        "prompt": "<extra_id_0>System\nBe brief.\n<extra_id_1>User\nQ1\n<extra_id_1>Assistant\nA1\n"
                  "<extra_id_1>User\nQ2", "response_1": "a", "response_2": "b", "preference_strength": -1}))
    assert Item.objects.get().prompt == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"}]


@pytest.mark.django_db
def test_an_export_line_reimports_under_its_item_id_with_its_metadata(project):
    """What the exports write (item_id, metadata as an object or its JSON text, statistics) reads back
    as the item it came from: the id is kept and the statistics are not metadata."""
    items_import_text(project=project, text=jsonl(
        {"prompt": [{"role": "user", "content": "Hi"}], "chosen": [{"role": "assistant", "content": "Hello"}],
         "rejected": [{"role": "assistant", "content": "Bye"}], "margin": 2.5, "item_id": "sha256:abc",
         "n_judgments": 2, "agreement": 1.0, "adjudicated": False, "chosen_model": "m1", "rejected_model": "m2",
         "subset": "chat", "metadata": json.dumps({"subset": "chat", "source": "x"})},
        {"prompt": "Yo", "chosen": "a", "rejected": "b", "item_id": "q2", "metadata": {"k": 1}},
    ))
    first, second = Item.objects.order_by("id")
    assert (first.external_id, first.metadata) == ("sha256:abc", {"subset": "chat", "source": "x"})
    assert list(first.responses.values_list("model_name", flat=True)) == ["m1", "m2"]
    assert (second.external_id, second.metadata) == ("q2", {"k": 1})
