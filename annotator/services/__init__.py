"""Every write of the annotator app, by subject; the public names are re-exported here.

- projects: projects and their members
- queue: leases on items (next item, heartbeat, skip) and the item lock every queue write takes
- judgments: submit and undo, the disagreement they leave, review and gold answers
- imports: storing a parsed item file (parsing is annotator/formats.py)
- judgment_imports: storing a parsed judgment file by external annotators (annotator/judgment_formats.py)
"""

from .imports import ImportReport, items_import, items_import_text, items_write
from .judgment_imports import (
    JudgmentImportReport,
    helpsteer2_rubric_version,
    imported_annotators,
    judgments_import,
    judgments_import_text,
    judgments_write,
)
from .judgments import (
    UNDO_SECONDS,
    JudgmentInput,
    SubmitResult,
    UndoResult,
    adjudication_clear,
    adjudication_set,
    item_disagreement,
    item_set_gold,
    judgment_submit,
    judgment_undo,
    judgment_validate,
    judgment_winner,
    preference_to_canonical,
    preference_to_shown,
    shown_labels,
)
from .projects import (
    PROJECT_FIELDS,
    member_invite,
    membership_remove,
    membership_set,
    project_create,
    project_update,
    projects_rubric_version_switch,
)
from .queue import (
    assignment_heartbeat,
    assignment_next_for_user,
    assignment_renew_locked,
    assignment_skip,
    item_lock,
)

__all__ = [
    "PROJECT_FIELDS",
    "UNDO_SECONDS",
    "ImportReport",
    "JudgmentImportReport",
    "JudgmentInput",
    "SubmitResult",
    "UndoResult",
    "adjudication_clear",
    "adjudication_set",
    "assignment_heartbeat",
    "assignment_next_for_user",
    "assignment_renew_locked",
    "assignment_skip",
    "item_disagreement",
    "item_lock",
    "helpsteer2_rubric_version",
    "imported_annotators",
    "item_set_gold",
    "items_import",
    "items_import_text",
    "items_write",
    "judgment_submit",
    "judgment_undo",
    "judgment_validate",
    "judgment_winner",
    "judgments_import",
    "judgments_import_text",
    "judgments_write",
    "member_invite",
    "membership_remove",
    "membership_set",
    "preference_to_canonical",
    "preference_to_shown",
    "project_create",
    "project_update",
    "projects_rubric_version_switch",
    "shown_labels",
]
