"""The API's JSON parser: DRF's, with the checks of config/jsonsafe.py (never a 500 on a body)."""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from . import jsonsafe


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            raw = stream.read() if stream is not None else b""
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - the body is not {encoding} text (byte {exc.start}).") from None
        try:
            return jsonsafe.loads(text, max_depth=settings.API_MAX_JSON_DEPTH)
        except jsonsafe.JSONValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        except json.JSONDecodeError as exc:
            raise ParseError(f"JSON parse error - line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
