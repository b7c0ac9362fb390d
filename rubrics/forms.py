"""Forms of the rubric pages. They parse input only; the services validate and write."""

from __future__ import annotations

from django import forms

from .formats import MAX_DOCUMENT_BYTES
from .models import Criterion, RubricSet


class RubricSetForm(forms.Form):
    name = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"autofocus": True}))
    slug = forms.CharField(
        max_length=100, required=False,
        help_text="Lowercase letters, digits and hyphens; used in URLs and exports. Derived from the name if blank.",
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}),
                                  help_text="Markdown. What the rubric is for.")


class RubricSetEditForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))


class RubricImportForm(forms.Form):
    SYNTAX_CHOICES = [("auto", "Detect"), ("json", "JSON"), ("yaml", "YAML"), ("text", "Text (OpenRubrics lines)")]
    FORM_CHOICES = [("auto", "Detect"), ("rubricate", "Rubricate (rubricate.rubric/v1)"),
                    ("healthbench", "HealthBench rubric list"), ("openrubrics", "OpenRubrics hard rules / principles")]

    file = forms.FileField(required=False, help_text=f"JSON or YAML, at most {MAX_DOCUMENT_BYTES // 1024} KiB.")
    content = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}),
                              label="…or paste it", strip=False)
    syntax = forms.ChoiceField(choices=SYNTAX_CHOICES, initial="auto")
    form = forms.ChoiceField(choices=FORM_CHOICES, initial="auto", label="Form")
    rubric_set = forms.ModelChoiceField(
        queryset=RubricSet.objects.order_by("name"), required=False, to_field_name="slug",
        empty_label="A new rubric set", label="Import into",
        help_text="An existing set gets a new version; it must have no open draft.",
    )
    name = forms.CharField(max_length=200, required=False, label="New set name",
                           help_text="For a new set; a Rubricate document names its own set.")
    slug = forms.CharField(max_length=100, required=False, label="New set slug")
    publish = forms.BooleanField(required=False, help_text="Publish at once instead of opening a draft.")

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        if upload is None and not (data.get("content") or "").strip():
            raise forms.ValidationError("Choose a file or paste a rubric.")
        if upload is not None and upload.size > MAX_DOCUMENT_BYTES:
            self.add_error("file", f"The file is larger than {MAX_DOCUMENT_BYTES // 1024} KiB.")
        return data

    def document_bytes(self) -> tuple[bytes | str, str]:
        upload = self.cleaned_data.get("file")
        if upload is not None:
            return upload.read(MAX_DOCUMENT_BYTES + 1), upload.name
        return self.cleaned_data["content"], "pasted text"


def criterion_data_from_post(post) -> dict:
    """A criterion form post → loosely typed data for the services (which validate it)."""
    data: dict = {}
    for name in ("key", "title", "guidance", "kind", "importance", "scale"):
        if name in post:
            data[name] = post.get(name, "")
    if "points" in post:
        raw = post.get("points", "").strip().replace(",", ".").replace("−", "-")
        try:
            data["points"] = float(raw)
        except ValueError:
            data["points"] = raw  # the validator says "must be a number" next to the field
    if "tags" in post:
        data["tags"] = [t.strip() for t in post.get("tags", "").split(",") if t.strip()]
    return data


CRITERION_CHOICES = {
    "kind": Criterion.Kind.choices,
    "importance": Criterion.Importance.choices,
    "scale": Criterion.Scale.choices,
}
