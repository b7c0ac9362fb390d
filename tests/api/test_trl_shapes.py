"""Every row shape the importer accepts comes out of the `trl` export as a row TRL's own data
utilities take (issue 14, #4): `trl.data_utils.is_conversational`, and `apply_chat_template` with a
chat template as strict as the strictest real ones (a system message only first, user and assistant
turns alternating), built on a tokenizer trained in-process: nothing is downloaded."""

import json

import pytest

from annotator.models import Item
from annotator.services import items_import_text
from tests.helpers import make_judgment

trl_data_utils = pytest.importorskip("trl.data_utils")

STRICT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] not in ['system', 'user', 'assistant'] -%}"
    "{{ raise_exception('unknown role ' + message['role']) }}{%- endif -%}"
    "{%- if message['role'] == 'system' and not loop.first -%}"
    "{{ raise_exception('a system message must come first') }}{%- endif -%}"
    "{%- if not loop.first and message['role'] == messages[loop.index0 - 1]['role'] -%}"
    "{{ raise_exception('roles must alternate') }}{%- endif -%}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant\n{%- endif -%}"
)

TRL_SHAPES = {
    "standard": {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."},
    "conversational": {"prompt": [{"role": "user", "content": "What colour is the sky?"}],
                       "chosen": [{"role": "assistant", "content": "Blue."}],
                       "rejected": [{"role": "assistant", "content": "Green."}]},
    "implicit prompt": {"chosen": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
                        "rejected": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "22"}]},
    "openai text parts": {"prompt": [{"role": "user", "content": [{"type": "text", "text": "Name a"},
                                                                  {"type": "text", "text": "colour."}]}],
                          "chosen": [{"role": "assistant", "content": [{"type": "text", "text": "Red."}]}],
                          "rejected": [{"role": "assistant", "content": "Loud."}]},
    "system and turns": {"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                                    {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye"}],
                         "chosen": [{"role": "assistant", "content": "Bye!"}],
                         "rejected": [{"role": "assistant", "content": "What?"}]},
    "developer role": {"prompt": [{"role": "developer", "content": "Answer in French."},
                                  {"role": "user", "content": "Hello"}],
                       "chosen": "Bonjour", "rejected": "Hello"},
    "sharegpt roles": {"prompt": [{"role": "human", "content": "Hi"}], "chosen": [{"role": "gpt", "content": "Hey"}],
                       "rejected": [{"role": "model", "content": "Go"}]},
    "two assistant messages": {"prompt": "Count to two.",
                               "chosen": [{"role": "assistant", "content": "1"}, {"role": "assistant", "content": "2"}],
                               "rejected": [{"role": "assistant", "content": "3"}]},
    "ids and extra columns": {"prompt_id": "p-9", "prompt": "Hi", "chosen": "Hello", "rejected": "No",
                              "score_chosen": 8.0, "score_rejected": 2.0},
}
OTHER_FORMATS = [
    {"id": "rb-1", "prompt": "Sort a list in Python?", "chosen": "sorted(xs)", "rejected": "You can't.",
     "chosen_model": "a", "rejected_model": "b", "subset": "hep-python"},
    {"prompt": "<extra_id_0>System\nBe kind.\n<extra_id_1>User\nhi\n<extra_id_1>Assistant\nhello\n"
               "<extra_id_1>User\nhow are you?", "response_1": "Fine.", "response_2": "Go away.",
     "preference_strength": -2},
    {"id": "n-1", "messages": [{"role": "user", "content": "Pick a prime."}],
     "responses": [{"content": "7"}, {"content": "8"}, {"content": "9"}]},
]


@pytest.fixture(scope="module")
def tokenizer():
    from scoring.tiny_model import train_tokenizer

    tok = train_tokenizer()
    tok.chat_template = STRICT_TEMPLATE
    return tok


def judge_everything(project, user):
    for item in Item.objects.filter(project=project):
        responses = list(item.responses.order_by("position"))
        if len(responses) == 2:
            make_judgment(item, user, preference=-1)
        else:
            make_judgment(item, user, ranking=responses)


def trl_rows(client, project) -> list[dict]:
    response = client.get(f"/api/v1/projects/{project.id}/export?format=trl")
    assert response.status_code == 200
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]


@pytest.mark.django_db
def test_every_accepted_trl_shape_exports_as_a_row_trl_takes(project, project_admin, annotator, client_for,
                                                             tokenizer):
    for row in TRL_SHAPES.values():
        items_import_text(project=project, text=json.dumps(row) + "\n", file_format="trl")
    for row in OTHER_FORMATS:
        items_import_text(project=project, text=json.dumps(row) + "\n")
    judge_everything(project, annotator)
    rows = trl_rows(client_for(project_admin), project)
    assert len(rows) == len(TRL_SHAPES) + len(OTHER_FORMATS)
    for row in rows:
        assert trl_data_utils.is_conversational(row), row
        example = {k: row[k] for k in ("prompt", "chosen", "rejected")}
        rendered = trl_data_utils.apply_chat_template(example, tokenizer)
        assert rendered["prompt"].endswith("<|im_start|>assistant"), row
        assert row["chosen"][0]["content"] in rendered["chosen"]
        assert row["rejected"][0]["content"] in rendered["rejected"]
        # The explicit-prompt form and the implicit one (TRL extracts the shared prefix) agree.
        implicit = {"chosen": row["prompt"] + row["chosen"], "rejected": row["prompt"] + row["rejected"]}
        assert trl_data_utils.extract_prompt(implicit)["prompt"] == row["prompt"]


@pytest.mark.django_db
def test_the_strict_template_is_strict_about_what_the_import_refuses(tokenizer):
    """The check above means something: rows the importer now refuses would fail it."""
    for prompt in ([{"role": "user", "content": "Hi"}, {"role": "system", "content": "S"},
                    {"role": "user", "content": "Hi"}],
                   [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hel"}],
                   [{"role": "developer", "content": "S"}, {"role": "user", "content": "Hi"}]):
        example = {"prompt": prompt, "chosen": [{"role": "assistant", "content": "a"}],
                   "rejected": [{"role": "assistant", "content": "b"}]}
        with pytest.raises(Exception):  # noqa: B017 - jinja's TemplateError or TRL's ValueError
            trl_data_utils.apply_chat_template(example, tokenizer)
