"""Input and output serializers of the Insights API (they also document the OpenAPI schema)."""

from rest_framework import serializers

from ..models import InsightsSnapshot
from ..tables import TABLES


class TableLinkSerializer(serializers.Serializer):
    table = serializers.ChoiceField(choices=list(TABLES))
    section = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    url = serializers.CharField(help_text="GET it for JSON; add ?as=csv for CSV.")


class SnapshotSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=InsightsSnapshot.Status.choices)
    stage = serializers.CharField(help_text="What the running computation is doing.")
    progress = serializers.FloatField(help_text="0..1 while it runs.")
    error = serializers.CharField()
    requested_at = serializers.DateTimeField(allow_null=True)
    computed_at = serializers.DateTimeField(
        allow_null=True, help_text="When the stored result was computed; null when it never was."
    )
    compute_seconds = serializers.FloatField(allow_null=True)
    judgments = serializers.IntegerField(help_text="Judgments the stored result was computed from.")
    summary = serializers.DictField(
        help_text="items, judged_items, judgments, annotators, scorers, models, replicates, seconds."
    )


class InsightsOutputSerializer(SnapshotSerializer):
    tables = TableLinkSerializer(many=True)


class TableOutputSerializer(serializers.Serializer):
    table = serializers.ChoiceField(choices=list(TABLES))
    title = serializers.CharField()
    description = serializers.CharField()
    columns = serializers.ListField(
        child=serializers.DictField(),
        help_text='[{"key", "heading", "kind"}]; kind: num, pct (a share 0..1), int, text, list, bool.',
    )
    rows = serializers.ListField(child=serializers.DictField(), help_text="One object per row, keyed by column.")
    computed_at = serializers.DateTimeField(allow_null=True)
