import uuid
from html.parser import HTMLParser

import pytest

from config.markup import render_markdown


class _Elements(HTMLParser):
    """Collects (tag, attrs) of every element actually present in the HTML."""

    def __init__(self):
        super().__init__()
        self.elements = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


def assert_inert(html: str) -> None:
    parser = _Elements()
    parser.feed(html)
    for tag, attrs in parser.elements:
        assert tag not in {"script", "img", "iframe", "object", "embed", "style", "form"}, tag
        for name, value in attrs.items():
            assert not name.startswith("on"), name
            assert not name.startswith(("hx-", "data-hx")), name
            if name in {"href", "src"}:
                assert not (value or "").strip().lower().startswith(("javascript:", "data:", "vbscript:"))

PAYLOADS = {
    "script": "<script>alert(1)</script>",
    "onerror": '<img src=x onerror="alert(1)">',
    "javascript link": "[click me](javascript:alert(1))",
    "hx-get": '<div hx-get="/logout/" hx-trigger="load">x</div>',
}


@pytest.mark.parametrize("name", PAYLOADS)
def test_user_content_renders_inert(name):
    assert_inert(render_markdown(PAYLOADS[name]))


def test_a_javascript_autolink_and_a_reference_link_are_not_links():
    assert_inert(render_markdown("<javascript:alert(1)>\n\n[x][r]\n\n[r]: javascript:alert(1)"))


def test_code_blocks_are_highlighted_on_the_server():
    html = render_markdown("```python\ndef f():\n    return 1\n```")
    assert '<div class="highlight">' in html
    assert '<span class="k">def</span>' in html


def test_links_get_a_safe_rel():
    html = render_markdown("[docs](https://example.org)")
    assert 'href="https://example.org"' in html
    assert "noopener" in html


def test_tables_and_lists_survive():
    html = render_markdown("| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two")
    assert "<table>" in html and "<li>one</li>" in html


# --- Rendered once per distinct text (config.markup's caches) ---------------------------------

LONG = "A response with `code` and **bold** text. " * 10  # long enough for the shared cache


@pytest.fixture
def render_count(monkeypatch):
    from collections import OrderedDict

    from config import markup

    monkeypatch.setattr(markup, "_local", OrderedDict())  # a fresh worker process
    monkeypatch.setattr(markup, "_local_chars", 0)
    # Keys no earlier run left in the shared cache (Redis outlives the test run).
    monkeypatch.setattr(markup, "RENDERER_VERSION", f"test-{uuid.uuid4().hex}")
    calls = []
    real = markup.sanitize_html
    monkeypatch.setattr(markup, "sanitize_html", lambda html: calls.append(html) or real(html))
    return calls


def test_the_same_text_is_rendered_once_however_often_it_is_shown(render_count):
    first = render_markdown(LONG)
    assert render_markdown(LONG) == first and render_markdown(LONG) == first
    assert len(render_count) == 1
    render_markdown(LONG + "!")
    assert len(render_count) == 2


def test_another_worker_process_reuses_the_rendering_from_the_shared_cache(render_count):
    from config import markup

    html = render_markdown(LONG)
    markup._local.clear()  # as in another gunicorn worker
    assert render_markdown(LONG) == html
    assert len(render_count) == 1


def test_a_new_renderer_version_renders_afresh(render_count, monkeypatch):
    from config import markup

    render_markdown(LONG)
    monkeypatch.setattr(markup, "RENDERER_VERSION", markup.RENDERER_VERSION + "-next")
    render_markdown(LONG)
    assert len(render_count) == 2


def test_markdown_still_renders_while_the_shared_cache_is_down(render_count, monkeypatch):
    from config import markup

    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(markup.cache, "get_many", down)
    monkeypatch.setattr(markup.cache, "set_many", down)
    assert "<code>code</code>" in render_markdown(LONG)
    assert len(render_count) == 1


def test_a_pages_texts_take_one_round_trip_to_the_shared_cache_whatever_their_number(render_count, monkeypatch):
    from config import markup

    texts = [LONG + "a", LONG + "b", None, LONG + "a", "short"]
    first = markup.render_markdown_many(texts)
    assert first[0] == first[3] and first[2] == "" and "<p>short</p>" in first[4]
    assert len(render_count) == 3  # a text shown twice on the page renders once
    markup._local.clear()  # another worker process
    round_trips = []
    real = markup.cache.get_many
    monkeypatch.setattr(markup.cache, "get_many", lambda keys: round_trips.append(keys) or real(keys))
    assert markup.render_markdown_many(texts) == first
    assert len(round_trips) == 1 and len(round_trips[0]) == 2  # the two long texts; short ones render
    assert len(render_count) == 4  # only "short" rendered again
