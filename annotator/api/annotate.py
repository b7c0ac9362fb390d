"""The annotation API: the comparison page's queue for scripts and other front ends.

POST /api/v1/projects/{id}/annotate/next                      lease the next item (or keep the current one)
POST /api/v1/projects/{id}/assignments/{assignment_id}/submit  store the judgment (idempotent per assignment)
POST /api/v1/projects/{id}/assignments/{assignment_id}/skip    never see this item again
POST /api/v1/projects/{id}/assignments/{assignment_id}/heartbeat  extend the lease

It is the page's queue, not a second one: every call goes through the same services
(assignment_next_for_user, judgment_submit, assignment_skip, assignment_heartbeat), so a script and
a browser annotator share the overlap, the leases and the locks. The same role rules apply: any
member works the queue; others get 404; an assignment is only ever its own annotator's.

`preference` is on the scale the annotator sees: −3 = A (the first response listed) much better,
+3 = B much better, 0 = tie, with A and B as `next` lists them (the order is randomised per
assignment when the project says so, and recorded). The assignment id is the idempotency key:
submitting it again returns the stored judgment unchanged (`created: false`, 200).
"""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.access import project_get_for_user
from annotator.selectors import (
    assignment_get_for_user,
    criteria_for_project,
    queue_state,
    responses_in_shown_order,
)
from annotator.services import (
    JudgmentInput,
    assignment_heartbeat,
    assignment_next_for_user,
    assignment_skip,
    judgment_submit,
    preference_to_canonical,
)
from config.api_errors import error_responses
from rubrics.models import Criterion

from .serializers import MessageSerializer

TAGS = ["annotate"]


# --- Output -------------------------------------------------------------------------------------


class ShownResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The response id: use it in `ranking` and `scores`.")
    label = serializers.CharField(help_text='"A", "B", …: the order shown (randomised per assignment).')
    content = serializers.CharField(allow_blank=True)
    model = serializers.CharField(allow_null=True, help_text="null when the project hides model identities.")


class CriterionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Use it in `scores`.")
    key = serializers.CharField()
    title = serializers.CharField()
    guidance = serializers.CharField(allow_blank=True)
    scale = serializers.ChoiceField(choices=Criterion.Scale.choices,
                                    help_text="binary: 0/1; likert5: 1..5; points: 0..points (or points..0).")
    points = serializers.FloatField()


class AnnotateItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    prompt = MessageSerializer(many=True)


class AssignmentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The assignment: the idempotency key of its submission.")
    lease_expires_at = serializers.DateTimeField()
    lease_seconds = serializers.IntegerField(help_text="Seconds left on the lease; heartbeat to extend it.")
    item = AnnotateItemSerializer()
    responses = ShownResponseSerializer(many=True, help_text="In the order shown: A, B, …")
    criteria = CriterionOutputSerializer(many=True, help_text="Score every response on every criterion.")
    rationale_required = serializers.BooleanField()
    submit_url = serializers.CharField()
    skip_url = serializers.CharField()
    heartbeat_url = serializers.CharField()


class QueueStateSerializer(serializers.Serializer):
    open_items = serializers.IntegerField(help_text="Open items you have neither judged nor skipped.")
    leased_by_others = serializers.IntegerField(help_text="Of those, held by others' live leases: try later.")


class NextOutputSerializer(serializers.Serializer):
    assignment = AssignmentOutputSerializer(allow_null=True, help_text="null: nothing for you right now.")
    queue = QueueStateSerializer(allow_null=True, help_text="Why there is nothing (only when assignment is null).")


class SubmitOutputSerializer(serializers.Serializer):
    judgment_id = serializers.IntegerField()
    created = serializers.BooleanField(help_text="false: this assignment was submitted before; nothing changed.")
    preference = serializers.IntegerField(allow_null=True,
                                          help_text="As stored: −3..3 relative to the item's stored response order.")
    submitted_at = serializers.DateTimeField()


class SkipOutputSerializer(serializers.Serializer):
    assignment_id = serializers.IntegerField()
    status = serializers.CharField()


class HeartbeatOutputSerializer(serializers.Serializer):
    assignment_id = serializers.IntegerField()
    lease_expires_at = serializers.DateTimeField()
    lease_seconds = serializers.IntegerField()


# --- Input --------------------------------------------------------------------------------------


class ScoreInputSerializer(serializers.Serializer):
    response = serializers.IntegerField(help_text="A response id from `responses`.")
    criterion = serializers.IntegerField(help_text="A criterion id from `criteria`.")
    value = serializers.FloatField()


class SubmitInputSerializer(serializers.Serializer):
    preference = serializers.IntegerField(
        required=False, allow_null=True, min_value=-3, max_value=3,
        help_text="Two responses: −3 = A much better … 0 = tie … +3 = B much better (A, B as shown).",
    )
    both_bad = serializers.BooleanField(required=False, default=False)
    ranking = serializers.ListField(child=serializers.IntegerField(), required=False, default=list,
                                    help_text="More than two responses: every response id, best first.")
    scores = ScoreInputSerializer(many=True, required=False, default=list)
    rationale = serializers.CharField(required=False, allow_blank=True, default="", max_length=20000)
    time_spent_ms = serializers.IntegerField(required=False, default=0, min_value=0, max_value=2**31 - 1)


# --- Views --------------------------------------------------------------------------------------


def _lease_seconds(assignment) -> int:
    return max(0, int((assignment.lease_expires_at - timezone.now()).total_seconds()))


def _assignment_data(request, project, assignment) -> dict:
    item = assignment.item
    responses = responses_in_shown_order(item=item, shown_order=assignment.shown_order)
    hide = project.hide_model_identities
    args = [project.id, assignment.id]
    return {
        "id": assignment.id,
        "lease_expires_at": assignment.lease_expires_at,
        "lease_seconds": _lease_seconds(assignment),
        "item": {"id": item.id, "external_id": item.external_id, "prompt": item.prompt or []},
        "responses": [{"id": r.id, "label": r.label, "content": r.content, "model": None if hide else r.model_name}
                      for r in responses],
        "criteria": [{"id": c.id, "key": c.key, "title": c.title, "guidance": c.guidance, "scale": c.scale,
                      "points": c.points} for c in criteria_for_project(project=project)],
        "rationale_required": project.rationale_required,
        "submit_url": request.build_absolute_uri(reverse("api-annotate-submit", args=args)),
        "skip_url": request.build_absolute_uri(reverse("api-annotate-skip", args=args)),
        "heartbeat_url": request.build_absolute_uri(reverse("api-annotate-heartbeat", args=args)),
    }


class AnnotateNextApi(APIView):
    @extend_schema(
        operation_id="annotate_next", tags=TAGS, request=None,
        summary="Lease my next item (or keep my current lease), exactly as the comparison page does",
        description="Returns the item you hold a live lease on, extended, else leases the next open item "
                    "(never one you judged or skipped, never beyond the project's overlap). "
                    "`assignment` is null when there is nothing for you now; `queue` says why.",
        responses={200: NextOutputSerializer, **error_responses(409)},
    )
    def post(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        assignment = assignment_next_for_user(project=project, user=request.user)
        if assignment is None:
            state = queue_state(project=project, user=request.user)
            return Response({"assignment": None, "queue": {"open_items": state.open_items,
                                                           "leased_by_others": state.leased_by_others}})
        return Response(NextOutputSerializer(
            {"assignment": _assignment_data(request, project, assignment), "queue": None}).data)


class AnnotateSubmitApi(APIView):
    @extend_schema(
        operation_id="annotate_submit", tags=TAGS, request=SubmitInputSerializer,
        summary="Submit my judgment of an assignment (idempotent: the assignment id is the key)",
        description="The page's validation: a preference (or both_bad) for two responses, a full ranking for "
                    "more, every criterion scored for every response, a rationale when the project requires "
                    "one. 400 names each field at fault (`score-<response>-<criterion>` for scores). A second "
                    "submission of the same assignment returns the stored judgment (200, created false). "
                    "409: the lease ran out and the item went to someone else, or you skipped it.",
        responses={201: SubmitOutputSerializer, 200: SubmitOutputSerializer, **error_responses(400, 409)},
    )
    def post(self, request, project_id: int, assignment_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        assignment = assignment_get_for_user(assignment_id=assignment_id, user=request.user, project=project)
        body = SubmitInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        responses = list(assignment.item.responses.all())
        preference = preference_to_canonical(shown_order=assignment.shown_order, responses=responses,
                                             shown_preference=data.get("preference"))
        result = judgment_submit(assignment=assignment, data=JudgmentInput(
            preference=preference, both_bad=data["both_bad"], ranking=list(data["ranking"]),
            scores={(s["response"], s["criterion"]): s["value"] for s in data["scores"]},
            rationale=data["rationale"], time_spent_ms=data["time_spent_ms"],
        ))
        judgment = result.judgment
        out = {"judgment_id": judgment.pk, "created": result.created, "preference": judgment.preference,
               "submitted_at": judgment.submitted_at}
        return Response(SubmitOutputSerializer(out).data,
                        status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class AnnotateSkipApi(APIView):
    @extend_schema(
        operation_id="annotate_skip", tags=TAGS, request=None,
        summary="Skip an assignment: the item never comes back to me, its slot is free at once",
        responses={200: SkipOutputSerializer, **error_responses(409)},
    )
    def post(self, request, project_id: int, assignment_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        assignment = assignment_get_for_user(assignment_id=assignment_id, user=request.user, project=project)
        skipped = assignment_skip(assignment=assignment)
        return Response(SkipOutputSerializer({"assignment_id": skipped.pk, "status": skipped.status}).data)


class AnnotateHeartbeatApi(APIView):
    @extend_schema(
        operation_id="annotate_heartbeat", tags=TAGS, request=None,
        summary="Extend my lease while I work on the item",
        description="409: the lease ran out and the item went to someone else (`expired`: ask `next` "
                    "again), or it was submitted (`submitted`) or skipped (`skipped`).",
        responses={200: HeartbeatOutputSerializer, **error_responses(409)},
    )
    def post(self, request, project_id: int, assignment_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        assignment = assignment_get_for_user(assignment_id=assignment_id, user=request.user, project=project)
        renewed = assignment_heartbeat(assignment=assignment)
        return Response(HeartbeatOutputSerializer({"assignment_id": renewed.pk,
                                                   "lease_expires_at": renewed.lease_expires_at,
                                                   "lease_seconds": _lease_seconds(renewed)}).data)
