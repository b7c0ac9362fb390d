"""Forms of the scoring pages: they parse input; the services validate and write."""

from __future__ import annotations

import json

from django import forms

from .models import Scorer, ScoringRun

_BACKEND_OPTION_FIELDS = {
    Scorer.Backend.HF_SEQUENCE_CLASSIFIER: ("input_format", "pooling", "main_component", "weights_preset"),
    Scorer.Backend.OPENAI_JUDGE: ("base_url", "api_key_env", "mode", "temperature", "timeout", "max_retries",
                                  "concurrency", "unparsed_policy"),
    Scorer.Backend.LENGTH: ("unit",),
}
_NUMERIC = {"temperature": float, "timeout": float, "max_retries": int, "concurrency": int}


class ScorerForm(forms.Form):
    name = forms.CharField(max_length=200)
    backend = forms.ChoiceField(choices=Scorer.Backend.choices)
    model = forms.CharField(
        max_length=500, required=False,
        help_text="Reward model: a local directory or a hub id (e.g. Skywork/Skywork-Reward-V2-Llama-3.1-8B). "
                  "Judge: the model name the endpoint serves.",
    )
    revision = forms.CharField(max_length=200, required=False, help_text="Hub commit, tag or branch (pin it).")
    dtype = forms.ChoiceField(choices=Scorer.Dtype.choices, initial=Scorer.Dtype.AUTO)
    max_length = forms.IntegerField(min_value=8, initial=4096, help_text="Longer inputs are cut from the left.")
    batch_token_budget = forms.IntegerField(
        min_value=1, initial=16384, help_text="Padded tokens per forward pass (rows × longest row)."
    )
    trust_remote_code = forms.BooleanField(
        required=False, help_text="Runs Python code shipped with the model. Only for models you trust.",
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")
    # hf_sequence_classifier
    input_format = forms.ChoiceField(
        choices=[("chat_template", "Chat template (decoder RMs)"), ("pair", "Question/answer pair (cross-encoders)")],
        initial="chat_template", required=False,
    )
    pooling = forms.ChoiceField(
        choices=[("last_token", "Last real token (from the attention mask)"),
                 ("hf", "The model's own (transformers; as TRL and RewardBench read it)")],
        initial="last_token", required=False,
        help_text="They differ only when the pad token is also the end-of-sequence token the template writes.",
    )
    main_component = forms.CharField(
        max_length=100, required=False,
        help_text="Multi-head models: the label used as the main score (default: the first).",
    )
    weights_preset = forms.ChoiceField(
        choices=[("", "None"), ("helpsteer2", "HelpSteer2 attributes (Nemotron-4-340B-Reward's weights)")],
        required=False, label="Weighted main score",
        help_text='Main score = Σ weight × component. Custom weights: {"weights": {"name": 1.0}} below.',
    )
    # openai_judge
    base_url = forms.CharField(
        max_length=500, required=False, label="Base URL",
        help_text="OpenAI-compatible endpoint, e.g. https://api.example.com/v1 (…/chat/completions is appended).",
    )
    api_key_env = forms.CharField(
        max_length=128, required=False, label="API key variable",
        help_text="Name of the environment variable holding the key on the workers; the key is never stored.",
    )
    mode = forms.ChoiceField(
        choices=[("criteria", "Per rubric criterion (HealthBench)"), ("pairwise", "Pairwise, both A/B orders")],
        initial="criteria", required=False,
    )
    temperature = forms.FloatField(required=False, min_value=0, max_value=2, initial=0)
    timeout = forms.FloatField(required=False, min_value=1, max_value=600, initial=60, help_text="Seconds per request.")
    max_retries = forms.IntegerField(required=False, min_value=0, max_value=10, initial=2)
    concurrency = forms.IntegerField(required=False, min_value=1, max_value=64, initial=4,
                                     help_text="Requests in flight per worker.")
    unparsed_policy = forms.ChoiceField(
        choices=[("exclude", "Leave out of the score; mark it partial"), ("unmet", "Count as not met"),
                 ("fail", "No score for the response")],
        initial="exclude", required=False, label="Unparsed verdicts",
        help_text="Criteria mode: what a criterion whose verdict never parsed does to the rubric score.",
    )
    # length
    unit = forms.ChoiceField(choices=[("chars", "Characters"), ("words", "Words")], initial="chars", required=False)
    extra_options = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        label="Other options (JSON)", help_text='Merged into the options, e.g. {"component_names": ["a", "b"]}.',
    )

    def clean_extra_options(self) -> dict:
        raw = (self.cleaned_data.get("extra_options") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("A JSON object, please.")
        return value

    def scorer_values(self) -> dict:
        """Keyword arguments for scorer_create / scorer_update."""
        data = self.cleaned_data
        options: dict = {}
        for key in _BACKEND_OPTION_FIELDS.get(data["backend"], ()):
            value = data.get(key)
            if value in (None, ""):
                continue
            options[key] = _NUMERIC[key](value) if key in _NUMERIC else value
        options.update(data.get("extra_options") or {})
        hf = data["backend"] == Scorer.Backend.HF_SEQUENCE_CLASSIFIER
        # Fields of the other backends, left filled in while switching, are not kept.
        return {
            "name": data["name"], "backend": data["backend"],
            "model": (data.get("model") or "") if data["backend"] != Scorer.Backend.LENGTH else "",
            "revision": (data.get("revision") or "") if hf else "",
            "dtype": data["dtype"], "max_length": data["max_length"],
            "batch_token_budget": data["batch_token_budget"],
            "trust_remote_code": bool(data.get("trust_remote_code")) and hf,
            "options": options, "is_active": data.get("is_active", False),
        }

    @classmethod
    def initial_for(cls, scorer: Scorer) -> dict:
        initial = {f: getattr(scorer, f) for f in ("name", "backend", "model", "revision", "dtype", "max_length",
                                                    "batch_token_budget", "trust_remote_code", "is_active")}
        options = dict(scorer.options or {})
        for key in _BACKEND_OPTION_FIELDS.get(scorer.backend, ()):
            if key in options:
                initial[key] = options.pop(key)
        initial["extra_options"] = json.dumps(options, indent=2) if options else ""
        return initial

    def add_service_errors(self, fields: dict[str, str]) -> None:
        """Show a service's field errors ("options.base_url") next to the right inputs."""
        for path, message in fields.items():
            name = path.split(".", 1)[1] if path.startswith("options.") else path
            if name == "options":
                name = "extra_options"
            self.add_error(name if name in self.fields else None, message)


class StartRunForm(forms.Form):
    scorer = forms.ModelChoiceField(queryset=Scorer.objects.none(), empty_label=None)
    scope = forms.ChoiceField(choices=ScoringRun.Scope.choices, initial=ScoringRun.Scope.ALL,
                              widget=forms.RadioSelect)

    def __init__(self, *args, scorers=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scorer"].queryset = scorers if scorers is not None else Scorer.objects.filter(is_active=True)
