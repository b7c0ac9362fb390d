"""Markdown for user content (responses, prompts, guidelines, rubric guidance), rendered inert.

markdown-it-py renders CommonMark with raw HTML escaped (html=False), Pygments highlights fenced
code on the server, and nh3 then keeps only an allow-list of tags and attributes: no scripts, no
event handlers, no `hx-*` attributes, and links only to http(s)/mailto.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

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
    try:
        lexer = get_lexer_by_name(lang) if lang else TextLexer()
    except ClassNotFound:
        lexer = TextLexer()
    return highlight(token.content, lexer, _FORMATTER)


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


def render_markdown(text: str | None) -> str:
    """Markdown → sanitised HTML, safe to mark safe in a template."""
    if not text:
        return ""
    return sanitize_html(_parser().render(text))
