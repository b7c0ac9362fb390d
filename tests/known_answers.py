"""A small project with known answers for the API, export and agreement tests, built row by row with
the ORM. The fixtures `labeled` and `foreign` (tests/conftest.py) build it.

Items of `labeled` (project from tests/conftest.py, overlap 2; preferences are −3..3, negative =
response 1 better):

| item        | judgments (annotator, ann2)        | expected label                                      |
| ----------- | ---------------------------------- | --------------------------------------------------- |
| agree-first | −2, −3                             | response 1, margin 2.5, agreement 1, strength −3    |
| agree-second| +1, +2                             | response 2, margin 1.5, agreement 1, strength +2    |
| tie         | 0, 0                               | tie (dropped by default), agreement 1               |
| split       | −1, +1                             | mean 0 → tie, agreement 0                           |
| adjudicated | −3, +2; reviewer adjudicates +1    | response 2, margin 1, strength +1, agreement 0      |
| both-bad    | both-bad, both-bad                 | left out of trl/helpsteer2, agreement 1             |
| single      | −1 (annotator only)                | response 1, margin 1, one judgment, agreement null  |
| ranked      | 3 responses; rankings [c,a,b],[c,b,a] | c chosen, b rejected, margin 2.25, agreement 1  |
| unjudged    | none                               | never exported                                      |
| old-rubric  | +3 by annotator with another version | response 2 (only without the version filter)     |
"""

from dataclasses import dataclass, field
from datetime import timedelta

from annotator.models import Adjudication, ProjectMembership
from scoring.models import CriterionScore, ResponseScore
from tests.factories import (
    ItemFactory,
    MembershipFactory,
    ScorerFactory,
    UserFactory,
    published_version,
)
from tests.helpers import T0, make_judgment

Role = ProjectMembership.Role


@dataclass
class Labeled:
    project: object
    version: object
    other_version: object
    annotator: object
    ann2: object
    reviewer: object
    admin: object
    items: dict = field(default_factory=dict)
    judgments: dict = field(default_factory=dict)
    scorer: object = None
    judge: object = None

    def responses(self, key: str) -> list:
        return list(self.items[key].responses.order_by("position", "id"))


def build_labeled(project, rubric_version, project_admin, reviewer, annotator) -> Labeled:
    """The known-answer project of the module docstring, in `project`."""
    ann2 = UserFactory(username="ann2")
    MembershipFactory(project=project, user=ann2, role=Role.ANNOTATOR)
    other_version = published_version(criteria=2)
    data = Labeled(project=project, version=rubric_version, other_version=other_version, annotator=annotator,
                   ann2=ann2, reviewer=reviewer, admin=project_admin)
    criteria = list(rubric_version.criteria.order_by("position"))

    def item(key, contents=None, prompt=None):
        kwargs = {"project": project, "external_id": key, "responses": contents or [f"{key} A", f"{key} B"]}
        if prompt is not None:
            kwargs["prompt"] = prompt
        data.items[key] = ItemFactory(**kwargs)
        return data.items[key]

    multi_turn = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                  {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Name a prime."}]
    i = item("agree-first", prompt=multi_turn)
    r = data.responses("agree-first")
    data.judgments["agree-first"] = [
        make_judgment(i, annotator, preference=-2, rationale="A is right.", at=T0,
                      scores={(r[0], criteria[0]): 1, (r[0], criteria[1]): 5, (r[0], criteria[2]): 0,
                              (r[1], criteria[0]): 0, (r[1], criteria[1]): 2, (r[1], criteria[2]): -2}),
        make_judgment(i, ann2, preference=-3, rationale="A, clearly.", at=T0 + timedelta(minutes=1),
                      shown_order=[r[1].pk, r[0].pk],
                      scores={(r[0], criteria[0]): 1, (r[0], criteria[1]): 4, (r[0], criteria[2]): 0,
                              (r[1], criteria[0]): 0, (r[1], criteria[1]): 1, (r[1], criteria[2]): -2}),
    ]
    i = item("agree-second")
    data.judgments["agree-second"] = [
        make_judgment(i, annotator, preference=1, rationale="B is kinder.", at=T0 + timedelta(hours=1)),
        make_judgment(i, ann2, preference=2, rationale="", at=T0 + timedelta(hours=1, minutes=1)),
    ]
    i = item("tie")
    data.judgments["tie"] = [make_judgment(i, annotator, preference=0, rationale="Same.", at=T0 + timedelta(hours=2)),
                             make_judgment(i, ann2, preference=0, at=T0 + timedelta(hours=2))]
    i = item("split")
    data.judgments["split"] = [make_judgment(i, annotator, preference=-1, at=T0 + timedelta(hours=3)),
                               make_judgment(i, ann2, preference=1, at=T0 + timedelta(hours=3))]
    i = item("adjudicated")
    data.judgments["adjudicated"] = [make_judgment(i, annotator, preference=-3, at=T0 + timedelta(hours=4)),
                                     make_judgment(i, ann2, preference=2, at=T0 + timedelta(hours=4))]
    Adjudication.objects.create(item=i, reviewer=reviewer, preference=1, rationale="B is safer.")
    Adjudication.objects.filter(item=i).update(created_at=T0 + timedelta(hours=4, minutes=5),
                                               updated_at=T0 + timedelta(hours=4, minutes=5))
    i = item("both-bad")
    data.judgments["both-bad"] = [make_judgment(i, annotator, both_bad=True, at=T0 + timedelta(hours=5)),
                                  make_judgment(i, ann2, both_bad=True, at=T0 + timedelta(hours=5))]
    i = item("single")
    data.judgments["single"] = [make_judgment(i, annotator, preference=-1, at=T0 + timedelta(hours=6))]
    i = item("ranked", contents=["ranked a", "ranked b", "ranked c"])
    a, b, c = data.responses("ranked")
    data.judgments["ranked"] = [make_judgment(i, annotator, ranking=[c, a, b], at=T0 + timedelta(hours=7)),
                                make_judgment(i, ann2, ranking=[c, b, a], at=T0 + timedelta(hours=7))]
    item("unjudged")
    i = item("old-rubric")
    data.judgments["old-rubric"] = [make_judgment(i, annotator, preference=3, version=other_version,
                                                  at=T0 + timedelta(hours=8))]

    # Model outputs for agree-first: a reward model (an older and a newer score for response 1) and a judge.
    r = data.responses("agree-first")
    data.scorer = ScorerFactory(name="rm-small", revision="rev-1")
    ResponseScore.objects.create(response=r[0], scorer=data.scorer, input_hash="old", value=0.1,
                                 model_revision="rev-0")
    newer = ResponseScore.objects.create(response=r[0], scorer=data.scorer, input_hash="new", value=2.5,
                                         model_revision="rev-1")
    ResponseScore.objects.filter(pk=newer.pk).update(created_at=newer.created_at + timedelta(seconds=5))
    ResponseScore.objects.create(response=r[1], scorer=data.scorer, input_hash="new", value=-1.0,
                                 model_revision="rev-1")
    data.judge = ScorerFactory(name="judge-small", backend="openai_judge", revision="judge-rev")
    CriterionScore.objects.create(response=r[0], criterion=criteria[0], scorer=data.judge, met=True,
                                  explanation="States the fact.", raw_output='{"criteria_met": true}')
    return data


def build_foreign(outsider):
    """The outsider's own project, with rows whose names carry a marker no other test data has."""
    project = outsider.memberships.get().project
    item = ItemFactory(project=project, external_id="FOREIGN-MARKER-item",
                       responses=["FOREIGN-MARKER a", "FOREIGN-MARKER b"])
    make_judgment(item, outsider, preference=1, rationale="FOREIGN-MARKER rationale")
    return project
