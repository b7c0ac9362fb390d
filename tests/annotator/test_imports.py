"""Item import: every format good and bad, detection, re-import counts, limits, gold."""

import io
import json
import threading

import pytest

from annotator.formats import detect_format
from annotator.models import Item, Project, Response
from annotator.services import assignment_next_for_user, items_import, items_import_text
from config.errors import ApplicationError, ConflictError, PayloadTooLargeError


def jsonl(*rows) -> str:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n"


NATIVE = [
    {"id": "n1", "prompt": "What is 2+2?", "responses": [
        {"id": "a", "model": "m1", "content": "4"}, {"id": "b", "model": "m2", "content": "5"}],
     "metadata": {"topic": "maths"}},
    {"id": "n2", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                              {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}],
     "responses": [{"content": "Bye!"}, {"content": "See you."}, {"content": "Farewell."}]},
]
TRL = [
    {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."},
    {"prompt": [{"role": "user", "content": "What colour is the sky?"}],
     "chosen": [{"role": "assistant", "content": "Blue."}], "rejected": [{"role": "assistant", "content": "Green."}]},
    {"chosen": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
     "rejected": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "22"}]},
]
HELPSTEER2 = [
    {"prompt": "Write a haiku.", "response_1": "Autumn moonlight…", "response_2": "A poem.",
     "preference_strength": -2, "preference_statement": "@Response 1 is better.", "split": "train"},
    {"prompt": "c#\n<extra_id_1>Assistant\nC# is a language.\n<extra_id_1>User\nShow hello world",
     "response_1": "Console.WriteLine(\"Hello\");", "response_2": "print('hello')", "preference_strength": 3},
]
HELPSTEER3 = [
    {"context": [{"role": "user", "content": "Hi"}], "response1": "Hello!", "response2": "Go away.",
     "overall_preference": -3, "domain": "general"},
]
REWARDBENCH = [
    {"id": 30, "prompt": "How do I sort a list in Python?", "chosen": "Use sorted(xs).", "rejected": "You can't.",
     "chosen_model": "gpt-4", "rejected_model": "llama-2-7b", "subset": "hep-python"},
]
REWARDBENCH2 = [
    {"id": "rb2-1", "prompt": "Name a prime.", "chosen": ["7"], "rejected": ["8", "9", "10"],
     "num_correct": 1, "num_rejected": 3, "total_completions": 4, "models": ["a", "b", "c", "d"],
     "subset": "Math"},
]


@pytest.mark.parametrize("rows, expected", [
    (NATIVE, "native"), (TRL, "trl"), (HELPSTEER2, "helpsteer2"), (HELPSTEER3, "helpsteer2"),
    (REWARDBENCH, "rewardbench"), (REWARDBENCH2, "rewardbench2"),
])
def test_the_format_is_detected_from_the_first_line(rows, expected):
    assert detect_format(rows[0]) == expected


@pytest.mark.django_db
def test_native_import_keeps_conversations_models_and_metadata(project):
    report = items_import_text(project=project, text=jsonl(*NATIVE))
    assert report.as_dict() == {"format": "native", "total": 2, "created": 2, "updated": 0, "unchanged": 0}
    n1 = Item.objects.get(external_id="n1")
    assert n1.prompt == [{"role": "user", "content": "What is 2+2?"}] and n1.metadata == {"topic": "maths"}
    assert list(n1.responses.values_list("external_id", "model_name", "position")) == [("a", "m1", 0), ("b", "m2", 1)]
    n2 = Item.objects.get(external_id="n2")
    assert [m["role"] for m in n2.prompt] == ["system", "user", "assistant", "user"]
    assert list(n2.responses.values_list("external_id", flat=True)) == ["n2-0", "n2-1", "n2-2"]


@pytest.mark.django_db
def test_trl_import_reads_standard_conversational_and_implicit_prompts(project):
    report = items_import_text(project=project, text=jsonl(*TRL))
    assert (report.format, report.created) == ("trl", 3)
    items = list(Item.objects.order_by("id"))
    assert items[0].prompt == [{"role": "user", "content": "The sky is"}]
    assert items[2].prompt == [{"role": "user", "content": "2+2?"}]
    chosen, rejected = items[2].responses.order_by("position")
    assert (chosen.content, chosen.metadata, rejected.content) == ("4", {"label": "chosen"}, "22")
    assert not any(i.is_gold for i in items)


@pytest.mark.django_db
def test_helpsteer2_import_splits_multi_turn_prompts_and_keeps_the_strength(project):
    report = items_import_text(project=project, text=jsonl(*HELPSTEER2), gold=True)
    assert (report.format, report.created) == ("helpsteer2", 2)
    first, second = Item.objects.order_by("id")
    assert first.metadata["preference_strength"] == -2 and first.gold_preference == -2 and first.is_gold
    assert [m["role"] for m in second.prompt] == ["user", "assistant", "user"]
    assert second.prompt[2]["content"] == "Show hello world"
    assert list(second.responses.values_list("external_id", flat=True)) == ["response_1", "response_2"]


@pytest.mark.django_db
def test_helpsteer3_spelling_is_read_as_helpsteer2(project):
    report = items_import_text(project=project, text=jsonl(*HELPSTEER3))
    assert report.format == "helpsteer2"
    item = Item.objects.get()
    assert item.responses.get(position=0).content == "Hello!"
    assert item.metadata["overall_preference"] == -3


@pytest.mark.django_db
def test_rewardbench_import_keeps_models_and_subset_and_can_seed_gold(project):
    report = items_import_text(project=project, text=jsonl(*REWARDBENCH), gold=True)
    assert report.format == "rewardbench"
    item = Item.objects.get(external_id="30")
    assert item.metadata == {"subset": "hep-python"}
    assert list(item.responses.values_list("model_name", flat=True)) == ["gpt-4", "llama-2-7b"]
    assert item.is_gold and item.gold_preference == -1


@pytest.mark.django_db
def test_rewardbench2_import_makes_a_ranking_item_with_the_chosen_on_top(project):
    report = items_import_text(project=project, text=jsonl(*REWARDBENCH2), gold=True)
    assert report.format == "rewardbench2"
    item = Item.objects.get()
    responses = list(item.responses.order_by("position"))
    assert [r.external_id for r in responses] == ["chosen-0", "rejected-0", "rejected-1", "rejected-2"]
    assert [r.model_name for r in responses] == ["a", "b", "c", "d"]
    assert item.gold_ranking[0] == responses[0].id


@pytest.mark.django_db
def test_a_format_can_be_named_instead_of_detected(project):
    with pytest.raises(ApplicationError) as exc:
        items_import_text(project=project, text=jsonl(*TRL), file_format="native")
    assert exc.value.extra == {"line": 1, "field": "id"}
    assert not Item.objects.exists()


BAD_FILES = [
    ("native", [NATIVE[0], {"id": "x", "prompt": "p", "responses": [{"content": "only one"}]}], 2, "responses"),
    ("native", [NATIVE[0], {"id": "x", "prompt": "p", "responses": [{"content": ""}, {"content": "b"}]}],
     2, "responses[0].content"),
    ("native", [NATIVE[0], {"id": "x", "messages": [{"role": "robot", "content": "hi"}],
                            "responses": [{"content": "a"}, {"content": "b"}]}], 2, "messages[0].role"),
    ("native", [NATIVE[0], {"prompt": "p", "responses": [{"content": "a"}, {"content": "b"}]}], 2, "id"),
    ("native", [NATIVE[0], NATIVE[0]], 2, "id"),
    ("trl", [TRL[0], {"prompt": "p", "chosen": "c"}], 2, "rejected"),
    ("trl", [TRL[0], {"prompt": "p", "chosen": [{"role": "user", "content": "c"}], "rejected": "r"}],
     2, "chosen[0].role"),
    ("trl", [TRL[0], TRL[1], {"chosen": [{"role": "assistant", "content": "a"}],
                              "rejected": [{"role": "assistant", "content": "b"}]}], 3, "prompt"),
    ("helpsteer2", [HELPSTEER2[0], {**HELPSTEER2[0], "preference_strength": 5}], 2, "preference_strength"),
    ("helpsteer2", [HELPSTEER2[0], {"prompt": "p", "response_1": "a", "response_2": ""}], 2, "response_2"),
    ("rewardbench", [REWARDBENCH[0], {**REWARDBENCH[0], "id": 31, "chosen_model": 7}], 2, "chosen_model"),
    ("rewardbench", [REWARDBENCH[0], {"id": 32, "prompt": "p", "chosen": "c", "subset": "s"}], 2, "rejected"),
    ("rewardbench2", [REWARDBENCH2[0], {**REWARDBENCH2[0], "id": "rb2-2", "rejected": []}], 2, "rejected"),
    ("rewardbench2", [REWARDBENCH2[0], {**REWARDBENCH2[0], "id": "rb2-3", "chosen": ["ok", 5]}], 2, "chosen[1]"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("file_format, rows, line, field", BAD_FILES)
def test_a_bad_line_stores_nothing_and_names_the_line_and_field(project, file_format, rows, line, field):
    with pytest.raises(ApplicationError) as exc:
        items_import_text(project=project, text=jsonl(*rows))
    assert exc.value.extra == {"line": line, "field": field}
    assert exc.value.message.startswith(f"line {line}: {field}: ")
    assert not Item.objects.exists() and not Response.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("text, line, message", [
    ('{"id": "a", "prompt": "p", "responses": [{"content": "a"}, {"content": "b"}]}\n{"id": "b", oops}\n',
     2, "invalid JSON"),
    ('{"id": "a", "prompt": "p", "responses": [{"content": "a"}, {"content": "b"}]}\n[1, 2]\n', 2, "JSON object"),
    ('{"weird": 1}\n', 1, "unrecognised format"),
])
def test_malformed_lines_are_named(project, text, line, message):
    with pytest.raises(ApplicationError) as exc:
        items_import_text(project=project, text=text)
    assert exc.value.extra["line"] == line and message in exc.value.message
    assert not Item.objects.exists()


@pytest.mark.django_db
def test_invalid_utf8_is_named(project):
    raw = jsonl(NATIVE[0]).encode() + b'{"id": "\xff"}\n'
    with pytest.raises(ApplicationError, match="line 2: .*UTF-8"):
        items_import(project=project, stream=io.BytesIO(raw))
    assert not Item.objects.exists()


@pytest.mark.django_db
def test_an_empty_file_is_an_error(project):
    with pytest.raises(ApplicationError, match="no items"):
        items_import_text(project=project, text="\n\n")
    assert not Item.objects.exists()


@pytest.mark.django_db
def test_blank_lines_and_a_byte_order_mark_are_fine(project):
    raw = b"\xef\xbb\xbf" + json.dumps(NATIVE[0]).encode() + b"\r\n\r\n"
    assert items_import(project=project, stream=io.BytesIO(raw)).created == 1


@pytest.mark.django_db
def test_reimporting_reports_new_updated_and_unchanged_without_duplicates(project):
    items_import_text(project=project, text=jsonl(*NATIVE))
    changed = {**NATIVE[0], "metadata": {"topic": "arithmetic"}}
    third = {"id": "n3", "prompt": "New", "responses": [{"content": "a"}, {"content": "b"}]}
    report = items_import_text(project=project, text=jsonl(changed, NATIVE[1], third))
    assert (report.created, report.updated, report.unchanged, report.total) == (1, 1, 1, 3)
    assert Item.objects.count() == 3 and Response.objects.count() == 7
    assert Item.objects.get(external_id="n1").metadata == {"topic": "arithmetic"}


@pytest.mark.django_db
def test_files_without_ids_get_stable_ids_so_reimport_is_a_no_op(project):
    items_import_text(project=project, text=jsonl(*TRL))
    report = items_import_text(project=project, text=jsonl(*TRL))
    assert (report.created, report.unchanged) == (0, 3)


@pytest.mark.django_db
def test_a_reimport_may_change_responses_of_an_item_nobody_has_seen(project):
    items_import_text(project=project, text=jsonl(NATIVE[0]))
    edited = {**NATIVE[0], "responses": [{"id": "a", "content": "four"}, {"id": "c", "content": "new"}]}
    assert items_import_text(project=project, text=jsonl(edited)).updated == 1
    item = Item.objects.get()
    assert list(item.responses.values_list("external_id", "content")) == [("a", "four"), ("c", "new")]


@pytest.mark.django_db
def test_a_reimport_cannot_change_what_annotators_already_judged(project, annotator):
    items_import_text(project=project, text=jsonl(NATIVE[0]))
    assignment_next_for_user(project=project, user=annotator)
    edited = {**NATIVE[0], "prompt": "What is 3+3?"}
    with pytest.raises(ConflictError) as exc:
        items_import_text(project=project, text=jsonl(edited))
    assert exc.value.extra == {"line": 1, "field": "id"}
    assert Item.objects.get().prompt[0]["content"] == "What is 2+2?"
    # Metadata may still change.
    assert items_import_text(project=project, text=jsonl({**NATIVE[0], "metadata": {"x": 1}})).updated == 1


@pytest.mark.django_db
def test_native_lines_can_seed_gold_answers(project):
    row = {**NATIVE[0], "gold": {"preference": -3}}
    items_import_text(project=project, text=jsonl(row))
    item = Item.objects.get()
    assert item.is_gold and item.gold_preference == -3


@pytest.mark.django_db
def test_a_file_over_the_size_limit_is_refused_with_413(project, settings):
    settings.IMPORT_MAX_FILE_BYTES = 200
    text = jsonl(*[{**NATIVE[0], "id": f"n{i}"} for i in range(5)])
    with pytest.raises(PayloadTooLargeError) as exc:
        items_import_text(project=project, text=text)
    assert exc.value.status == 413 and "IMPORT_MAX_FILE_BYTES" in exc.value.message
    assert not Item.objects.exists()


@pytest.mark.django_db
def test_a_line_over_the_length_limit_is_refused_with_413(project, settings):
    settings.IMPORT_MAX_LINE_BYTES = 100
    long_line = {**NATIVE[0], "id": "long", "metadata": {"pad": "x" * 200}}
    with pytest.raises(PayloadTooLargeError) as exc:
        items_import_text(project=project, text=jsonl(long_line))
    assert exc.value.extra["line"] == 1 and "IMPORT_MAX_LINE_BYTES" in exc.value.message
    assert not Item.objects.exists()


@pytest.mark.django_db
def test_json_nested_deeper_than_the_cap_is_refused(project, settings):
    settings.IMPORT_MAX_JSON_DEPTH = 8
    deep = '{"id": "d", "prompt": "p", "responses": [{"content": "a"}, {"content": "b"}], "metadata": ' \
        + '{"a": ' * 10 + "1" + "}" * 10 + "}"
    with pytest.raises(ApplicationError) as exc:
        items_import_text(project=project, text=deep + "\n")
    assert exc.value.status == 400 and "nested deeper than 8" in exc.value.message
    assert not Item.objects.exists()
    # Brackets inside strings do not count.
    ok = {**NATIVE[0], "metadata": {"note": "[[[[[[[[[[[[{{{{{{{{"}}
    assert items_import_text(project=project, text=jsonl(ok)).created == 1


@pytest.mark.django_db
def test_a_hundred_thousand_deep_array_does_not_crash_the_parser(project):
    deep = '{"id": "d", "metadata": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(ApplicationError, match="nested deeper"):
        items_import_text(project=project, text=deep)
    assert not Item.objects.exists()


def test_content_hashes_are_those_of_json_dumps_byte_for_byte():
    """Stored hashes stay valid: the fast encoder writes exactly what json.dumps wrote."""
    import hashlib
    import json

    from annotator.formats import ParsedItem, ParsedResponse

    tricky = {"floats": [1.5, -0.0, 0.1, 1e16, 1e-05, 123.0, 0.00012], "big": 2**64 + 1, "z": "\x00\x1f\x7f\u2028é😀",
              "a": {"d": [True, None], "c": "say \"1e5\" / \\"}}
    for metadata in (tricky, {"plain": "text", "n": 3}):
        item = ParsedItem(1, "x", [{"role": "user", "content": "Hi"}],
                          [ParsedResponse("a", "m", "A", metadata), ParsedResponse("b", "", "B", {})], metadata)
        expected = json.dumps(
            [item.prompt, [(r.external_id, r.model_name, r.content, r.metadata) for r in item.responses], metadata],
            sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert item.content_hash == hashlib.sha256(expected.encode()).hexdigest()


class _Trickle(io.RawIOBase):
    """A request body as a socket gives it: a few bytes per read, lines split anywhere."""

    def __init__(self, data: bytes):
        self.data = data

    def readable(self):
        return True

    def readinto(self, buffer):
        piece, self.data = self.data[:7], self.data[7:]
        buffer[:len(piece)] = piece
        return len(piece)


@pytest.mark.django_db
def test_a_body_that_arrives_in_small_pieces_imports_like_a_file(project):
    responses = [{"content": "A é"}, {"content": "B"}]
    lines = "".join(json.dumps({"id": f"t{i}", "prompt": f"Question {i}?", "responses": responses}) + "\n"
                    for i in range(40))
    report = items_import(project=project, stream=_Trickle(lines.encode()))
    assert report.created == 40
    assert sorted(Item.objects.filter(project=project).values_list("external_id", flat=True)) == sorted(
        f"t{i}" for i in range(40))


def _numbered(i: int, **fields) -> dict:
    return {"id": f"i{i}", "prompt": f"Question {i}?", "responses": [{"content": f"A{i}"}, {"content": f"B{i}"}],
            **fields}


@pytest.fixture
def small_batches(monkeypatch):
    """Items are written in batches while the file is read: three a batch here, so that a file of ten
    has batches written before its last lines are read."""
    monkeypatch.setattr("annotator.services.imports._WRITE_BATCH", 3)


@pytest.mark.django_db
@pytest.mark.parametrize("bad, line, field", [
    ({"id": "i7", "prompt": "x", "responses": [{"content": "only one"}]}, 8, "responses"),
    (_numbered(1), 8, "id"),  # a duplicate of line 2
])
def test_a_bad_line_after_written_batches_rolls_them_back(project, small_batches, bad, line, field):
    rows = [_numbered(i) for i in range(10)]
    rows[line - 1] = bad
    with pytest.raises(ApplicationError) as exc:
        items_import_text(project=project, text=jsonl(*rows))
    assert exc.value.extra == {"line": line, "field": field}
    assert not Item.objects.exists() and not Response.objects.exists()
    project.refresh_from_db()
    assert project.item_count == 0


@pytest.mark.django_db
def test_an_error_while_writing_a_batch_is_raised_and_rolls_back_the_others(project, small_batches, monkeypatch):
    from annotator.services import imports

    real, calls = imports._BatchWriter._create, []

    def conflicting(self, batch):
        calls.append(len(batch))
        if len(calls) == 2:
            raise ConflictError("Some of these items were added at the same time by someone else; import again.")
        real(self, batch)

    monkeypatch.setattr(imports._BatchWriter, "_create", conflicting)
    with pytest.raises(ConflictError, match="import again"):
        items_import_text(project=project, text=jsonl(*(_numbered(i) for i in range(10))))
    assert not Item.objects.exists() and not Response.objects.exists()


@pytest.mark.django_db
def test_items_added_meanwhile_are_a_conflict(project, small_batches):
    Item.objects.create(project=project, external_id="i4", prompt=[])  # batch 2 of 4; as if just imported
    Project.objects.filter(pk=project.pk).update(item_count=0)  # read before that import committed
    with pytest.raises(ConflictError, match="import again"):
        items_import_text(project=project, text=jsonl(*(_numbered(i) for i in range(12))))


@pytest.mark.django_db
def test_the_sending_stage_error_wins_over_the_query_that_met_its_aborted_transaction(project, small_batches,
                                                                                         monkeypatch):
    """PostgreSQL sends each batch's COPY from a third thread while the second prepares the next: an
    error there aborts the transaction under the second thread's next query, and the answer is the
    first error, not that query's "transaction is aborted"."""
    from django.db import DataError, connection

    from annotator.services import imports

    if connection.vendor != "postgresql":
        pytest.skip("one stage on SQLite")
    Item.objects.create(project=project, external_id="old", prompt=[])  # each batch is looked up: a query
    failed = threading.Event()

    def failing(batches):
        with connection.cursor() as cursor:
            try:
                cursor.execute("SELECT 1 / 0")
            finally:
                failed.set()

    real_write = imports._BatchWriter.write

    def write_after_the_failure(self, batch):
        failed.wait(5)  # every batch after the first meets the aborted transaction
        real_write(self, batch)

    monkeypatch.setattr(imports, "_copy_created", failing)
    monkeypatch.setattr(imports._BatchWriter, "write", lambda self, batch: (
        real_write(self, batch) if not self.report.total else write_after_the_failure(self, batch)))
    with pytest.raises(DataError, match="division by zero"):
        items_import_text(project=project, text=jsonl(*(_numbered(i) for i in range(12))))


@pytest.mark.django_db
def test_a_reimport_read_in_batches_counts_new_updated_and_unchanged(project, small_batches):
    items_import_text(project=project, text=jsonl(*(_numbered(i) for i in range(7))))
    rows = [_numbered(i, metadata={"revised": True}) if i in (2, 5) else _numbered(i) for i in range(10)]
    report = items_import_text(project=project, text=jsonl(*rows))
    assert (report.total, report.created, report.updated, report.unchanged) == (10, 3, 2, 5)
    assert Item.objects.filter(metadata={"revised": True}).count() == 2
    assert Response.objects.count() == 20
    project.refresh_from_db()
    assert project.item_count == 10


def test_on_sqlite_imports_reimports_and_rollbacks_behave_the_same(tmp_path):
    """The embedded SQLite set-up writes inline, without the background thread: the same tests pass."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'imports.sqlite3'}"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k",
         "(reimport or written or writing or bad_line) and not sqlite"],
        cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


class ClientBody(io.RawIOBase):
    """A request body as the API reads it from the client's connection (not seekable), noting whether
    each read happened inside a transaction."""

    def __init__(self, data: bytes):
        self.data, self.reads_in_transaction = io.BytesIO(data), []

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        from django.db import connection

        self.reads_in_transaction.append(connection.in_atomic_block)
        chunk = self.data.read(min(len(buffer), 4096))
        buffer[:len(chunk)] = chunk
        return len(chunk)


@pytest.mark.django_db(transaction=True)
def test_a_body_from_the_client_is_received_in_full_before_the_project_is_locked(project):
    # The import holds the project's row lock while it writes (submissions update that row): a slow
    # client must not hold it for as long as it takes to send the file.
    body = ClientBody(jsonl(*NATIVE, *[{**NATIVE[0], "id": f"x{i}"} for i in range(200)]).encode())
    report = items_import(project=project, stream=body)
    assert report.created == 202 and len(body.reads_in_transaction) > 1
    assert not any(body.reads_in_transaction)
