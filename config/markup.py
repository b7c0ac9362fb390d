"""Markdown for user content (responses, prompts, guidelines, rubric guidance), rendered inert.

markdown-it-py renders CommonMark with raw HTML escaped (html=False), Pygments highlights fenced
code on the server, and nh3 then keeps only an allow-list of tags and attributes: no scripts, no
event handlers, no `hx-*` attributes, and links only to http(s)/mailto.

Rendering is the costliest part of showing a response (a long answer with code takes milliseconds),
and the same texts are shown again and again (every annotator sees each response; the rubric's
guidance is on every comparison page). So the HTML is kept by the text's content hash: in the
process (a bounded LRU), then in Django's cache (Redis, shared by the workers), and rendered only on
a miss in both. The key names RENDERER_VERSION: change it when the parser, the highlighter or the
allow-list changes, and every text renders afresh.

The annotator's items go further: their prompts and responses are rendered once after import, in
the background, and stored with the rows (annotator/services/markup.py), so the comparison page
reads them with the item and renders nothing. Those rows record the RENDERER_VERSION they were
rendered with; a page shows stored HTML only when it matches, so a change here never shows stale
HTML (a data migration that sets `annotator_item.markup_version` to 0 has them rendered again).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from functools import lru_cache

import nh3
from django.core.cache import cache
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

log = logging.getLogger(__name__)

RENDERER_VERSION = 1
# Texts shorter than this render faster than a round trip to the shared cache takes.
SHARED_CACHE_MIN_CHARS = 200
SHARED_CACHE_SECONDS = 30 * 24 * 3600
# The in-process LRU is bounded by the characters of HTML it holds (about 2 bytes each at most).
LOCAL_CACHE_CHARS = 16_000_000
_local: OrderedDict[str, str] = OrderedDict()
_local_chars = 0
_local_lock = threading.Lock()  # gunicorn's threads share the LRU

_FORMATTER = HtmlFormatter(nowrap=False, cssclass="highlight")

ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s", "code", "pre",
    "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "span", "div",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "span": {"class"},
    "div": {"class"},
    "pre": {"class"},
    "code": {"class"},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
}
URL_SCHEMES = {"http", "https", "mailto"}


def _render_fence(_renderer, tokens, idx, _options, _env) -> str:
    """A fenced code block → Pygments' own `<div class="highlight"><pre>` and nothing around it.

    markdown-it's default fence rule wraps a highlighter's output in another `<pre><code>`, which
    nests a div inside a pre (invalid HTML, two boxes on the page).
    """
    token = tokens[idx]
    lang = token.info.strip().split()[0] if token.info.strip() else ""
    return highlight(token.content, _lexer(lang), _FORMATTER)


@lru_cache(maxsize=256)
def _lexer(lang: str):
    """Pygments' lexer for a fence's language (plain text when unknown); looked up once per name."""
    try:
        return get_lexer_by_name(lang) if lang else TextLexer()
    except ClassNotFound:
        return TextLexer()


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    md = (
        MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
        .enable("table")
        .enable("strikethrough")
    )
    md.add_render_rule("fence", _render_fence)
    return md


def sanitize_html(html: str) -> str:
    return nh3.clean(
        html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow", strip_comments=True,
    )


def render_markdown_uncached(text: str | None) -> str:
    """Markdown → sanitised HTML, rendered now: no cache is read or filled (a bulk render of texts
    shown once each would only push the ones shown again out of the caches)."""
    return sanitize_html(_parser().render(text)) if text else ""


def render_markdown(text: str | None) -> str:
    """Markdown → sanitised HTML, safe to mark safe in a template; rendered once per distinct text
    (see the module docstring)."""
    return render_markdown_many([text])[0]


def render_markdown_many(texts: list[str | None]) -> list[str]:
    """`render_markdown` of each text, with one round trip to the shared cache for all of them (a
    page's prompt and responses) instead of one per text."""
    htmls: list[str] = [""] * len(texts)
    keys: dict[str, list[int]] = {}  # the texts still to find, by key (a text may appear twice)
    with _local_lock:
        for i, text in enumerate(texts):
            if not text:
                continue
            key = f"md:{RENDERER_VERSION}:{hashlib.blake2b(text.encode(), digest_size=16).hexdigest()}"
            html = _local.get(key)
            if html is not None:
                _local.move_to_end(key)
                htmls[i] = html
            else:
                keys.setdefault(key, []).append(i)
    if not keys:
        return htmls
    shared = [key for key, at in keys.items() if len(texts[at[0]]) >= SHARED_CACHE_MIN_CHARS]
    found = _shared_get_many(shared) if shared else {}
    rendered = {}
    for key, at in keys.items():
        html = found.get(key)
        if html is None:
            html = rendered[key] = render_markdown_uncached(texts[at[0]])
        for i in at:
            htmls[i] = html
        _local_put(key, html)
    new_shared = {key: rendered[key] for key in shared if key in rendered}
    if new_shared:
        _shared_set_many(new_shared)
    return htmls


def _local_put(key: str, html: str) -> None:
    global _local_chars
    with _local_lock:
        if key in _local:
            return
        _local[key] = html
        _local_chars += len(html)
        while _local_chars > LOCAL_CACHE_CHARS and _local:
            _local_chars -= len(_local.popitem(last=False)[1])


def _shared_get_many(keys: list[str]) -> dict[str, str]:
    try:
        return cache.get_many(keys)
    except Exception as exc:  # the cache is a help, never a requirement: Redis down → render
        log.warning("markdown cache unavailable: %s", exc)
        return {}


def _shared_set_many(htmls: dict[str, str]) -> None:
    try:
        cache.set_many(htmls, SHARED_CACHE_SECONDS)
    except Exception as exc:
        log.warning("markdown cache unavailable: %s", exc)
