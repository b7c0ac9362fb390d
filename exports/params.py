"""The export parameters: one DRF serializer for the API, the export page and `manage.py export`.

`ExportParamsSerializer` validates (and, through drf-spectacular, documents) the parameters;
`export_params_parse` turns a query string, a form, a JSON body, the command's options or a stored
job's parameters into an `ExportParams`, or raises ApplicationError naming every field at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from config.dates import in_utc
from config.errors import ApplicationError

FORMATS = ("trl", "helpsteer2", "rubric_scores", "judgments")
FILE_FORMATS = ("jsonl", "csv", "parquet")
STREAMED_FILE_FORMATS = ("jsonl", "csv")
TIE_POLICIES = ("drop", "keep")


@dataclass(frozen=True)
class ExportParams:
    export_format: str
    rubric_version_id: int | None = None
    min_judgments: int = 1
    min_agreement: float | None = None
    tie_policy: str = "drop"
    include_model_scores: bool = False
    submitted_after: datetime | None = None

    def as_query(self) -> dict[str, str]:
        """The parameters as query-string values (what export_params_parse reads back)."""
        q = {"format": self.export_format, "min_judgments": str(self.min_judgments),
             "tie_policy": self.tie_policy}
        if self.rubric_version_id is not None:
            q["rubric_version"] = str(self.rubric_version_id)
        if self.min_agreement is not None:
            q["min_agreement"] = repr(self.min_agreement)
        if self.include_model_scores:
            q["include_model_scores"] = "true"
        if self.submitted_after is not None:
            q["submitted_after"] = self.submitted_after.isoformat()
        return q


class DateOrDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time, or a plain date (its midnight); without an offset, in TIME_ZONE."""

    def to_internal_value(self, value):
        if isinstance(value, datetime):
            parsed = value
        else:
            text = str(value).strip()
            try:
                parsed = parse_datetime(text)
                if parsed is None:
                    day = parse_date(text)
                    parsed = datetime.combine(day, time.min) if day else None
            except ValueError:
                parsed = None
            if parsed is None:
                self.fail("invalid", format="ISO 8601")
        try:
            if timezone.is_naive(parsed):
                parsed = timezone.make_aware(parsed, timezone.get_default_timezone())
            # In UTC: a time past the year 9999 there (9999-12-31T23:59:59-23:59) is the client's error,
            # and an offset PostgreSQL cannot hold (beyond ±15:59) goes away.
            return in_utc(parsed)
        except (OverflowError, ValueError):
            self.fail("invalid", format="ISO 8601")


def _messages(message: str, *codes: str) -> dict[str, str]:
    return dict.fromkeys(codes, message)


_INTEGER = ("invalid", "min_value", "max_value", "max_string_length")
_BIGINT = 2**63 - 1


# The schema's name for it as the body of POST …/exports/ stays what clients already generated code from.
@extend_schema_serializer(component_name="ExportJobCreate")
class ExportParamsSerializer(serializers.Serializer):
    """The parameters of an export. A rubric version must be one the project pinned or its judgments
    used (checked when the serializer's context names the project)."""

    format = serializers.ChoiceField(
        choices=FORMATS, source="export_format", help_text="trl | helpsteer2 | rubric_scores | judgments",
        error_messages=_messages(f"must be one of {', '.join(FORMATS)}", "required", "null", "invalid_choice"),
    )
    rubric_version = serializers.IntegerField(
        required=False, min_value=1, max_value=_BIGINT, source="rubric_version_id",
        help_text="Only judgments made with this rubric version (id).",
        error_messages=_messages("must be a rubric version id (a positive integer)", *_INTEGER),
    )
    min_judgments = serializers.IntegerField(
        required=False, min_value=0, max_value=1000, default=1,
        help_text="Items with at least this many counted judgments.",
        error_messages=_messages("must be an integer from 0 to 1000", *_INTEGER),
    )
    min_agreement = serializers.FloatField(
        required=False, min_value=0, max_value=1,
        help_text="Items whose pairwise agreement is at least this (0..1).",
        error_messages=_messages("must be a number from 0 to 1", *_INTEGER, "overflow"),
    )
    tie_policy = serializers.ChoiceField(
        choices=TIE_POLICIES, required=False, default="drop", help_text="drop ties, or keep them with margin 0.",
        error_messages=_messages("must be drop or keep", "invalid_choice", "null"),
    )
    include_model_scores = serializers.BooleanField(
        required=False, default=False, help_text="Add the reward-model scores of the responses.",
        error_messages=_messages("must be true or false", "invalid", "null"),
    )
    submitted_after = DateOrDateTimeField(
        required=False, help_text="Incremental export: ISO 8601 date or date-time (UTC if no offset).",
        error_messages=_messages("must be an ISO 8601 date or date-time", "invalid", "null"),
    )

    def validate_rubric_version(self, value: int) -> int:
        from annotator.models import Judgment

        project = self.context.get("project")
        if project is None or project.rubric_version_id == value:
            return value
        if not Judgment.objects.filter(item__project=project, rubric_version_id=value).exists():
            raise serializers.ValidationError("this project has no judgments with that rubric version")
        return value


PARAM_NAMES = tuple(ExportParamsSerializer().fields)


def export_params_parse(data: Mapping[str, Any], *, project=None, also: tuple[str, ...] = ()) -> ExportParams:
    """Validate export parameters from a query string, a form, a JSON body or the command line.

    Values may be lists (a repeated query parameter: the last counts); empty ones count as absent.
    A name that is neither a parameter nor in `also` (what the caller reads itself, e.g. `as`) is
    refused, so that a misspelt filter (`min_agreemnt`) never silently exports everything.
    Raises ApplicationError naming every field at fault. With `project`, a rubric version must be
    one the project pinned or its judgments used.
    """
    unknown = sorted(set(data) - set(PARAM_NAMES) - set(also))
    if unknown:
        known = ", ".join((*PARAM_NAMES, *also))
        raise ApplicationError(f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                               f"the parameters are {known}",
                               fields=dict.fromkeys(unknown, "unknown parameter"))
    serializer = ExportParamsSerializer(data=_present(data), context={"project": project})
    if not serializer.is_valid():
        errors = {name: str(messages[0]) for name, messages in serializer.errors.items()}
        name, message = next(iter(errors.items()))
        raise ApplicationError(f"{name}: {message}", fields=errors)
    return ExportParams(**serializer.validated_data)


def _present(data: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters given, as a plain dict: the last of repeated values, strings stripped, None and
    empty strings left out (so defaults apply)."""
    present = {}
    for name in PARAM_NAMES:
        value = data.get(name)  # a QueryDict answers its last value
        if isinstance(value, (list, tuple)):
            value = value[-1] if value else None
        if isinstance(value, str):
            value = value.strip()
        if value is not None and value != "":
            present[name] = value
    return present
