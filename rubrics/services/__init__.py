"""Every write of the rubrics app; the public names are re-exported here.

- versions: rubric sets, the life of a version (draft, publish, archive, discard) and import
- drafts: edits inside a draft, with optimistic concurrency that is never silent
"""

from .drafts import (
    DraftEdit,
    criteria_reorder,
    criterion_add,
    criterion_delete,
    criterion_duplicate,
    criterion_update,
    rubric_draft_notes_update,
    rubric_draft_replace,
)
from .versions import (
    RubricImportResult,
    rubric_content_hash,
    rubric_draft_create,
    rubric_draft_discard,
    rubric_event_record,
    rubric_import,
    rubric_import_text,
    rubric_set_create,
    rubric_set_create_from_document,
    rubric_set_update,
    rubric_version_archive,
    rubric_version_publish,
    rubric_version_unarchive,
)

__all__ = [
    "DraftEdit",
    "RubricImportResult",
    "criteria_reorder",
    "criterion_add",
    "criterion_delete",
    "criterion_duplicate",
    "criterion_update",
    "rubric_content_hash",
    "rubric_draft_create",
    "rubric_draft_discard",
    "rubric_draft_notes_update",
    "rubric_draft_replace",
    "rubric_event_record",
    "rubric_import",
    "rubric_import_text",
    "rubric_set_create",
    "rubric_set_create_from_document",
    "rubric_set_update",
    "rubric_version_archive",
    "rubric_version_publish",
    "rubric_version_unarchive",
]
