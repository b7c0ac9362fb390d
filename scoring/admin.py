from django.contrib import admin

from .models import CriterionScore, PairwiseScore, ResponseScore, Scorer, ScoringBatch, ScoringRun


@admin.register(Scorer)
class ScorerAdmin(admin.ModelAdmin):
    list_display = ["name", "backend", "model", "revision", "dtype", "is_active"]
    list_filter = ["backend", "is_active"]


class BatchInline(admin.TabularInline):
    model = ScoringBatch
    extra = 0
    fields = ["index", "status", "attempts", "done", "failed", "tokens", "worker", "lease_expires_at", "error"]
    readonly_fields = fields


@admin.register(ScoringRun)
class ScoringRunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "scorer", "status", "done", "failed", "total", "created_at"]
    list_filter = ["status"]
    inlines = [BatchInline]


@admin.register(ResponseScore)
class ResponseScoreAdmin(admin.ModelAdmin):
    list_display = ["response", "scorer", "value", "token_count", "truncated", "created_at"]
    raw_id_fields = ["response", "run"]


@admin.register(CriterionScore)
class CriterionScoreAdmin(admin.ModelAdmin):
    list_display = ["response", "criterion", "scorer", "met", "score", "parse_status"]
    raw_id_fields = ["response", "criterion", "run"]


@admin.register(PairwiseScore)
class PairwiseScoreAdmin(admin.ModelAdmin):
    list_display = ["item", "response_a", "response_b", "scorer", "verdict_ab", "verdict_ba", "consistent"]
    list_filter = ["consistent"]
    raw_id_fields = ["item", "response_a", "response_b", "run"]
