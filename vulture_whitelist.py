"""Names vulture cannot see used (`make lint`; the Django, DRF and Celery conventions are in
pyproject.toml's [tool.vulture]). Nothing imports this file: vulture only reads the names.

Add a name here only when the code is reached from outside Python (a template, a dotted path in
settings, an ORM or serializer lookup by string, a signature a framework imposes); dead code goes.
"""

_ = object

# Read by templates
_.waiting  # annotator.queue.QueueState, annotate.html
_.magnitude  # rubrics.models.Criterion, _rubric_preview.html
_.reason_labels  # views_review, review_list.html
_.short_name  # annotator.models.Item, _item_name.html (items imported without an id)
_.can_reissue  # views.project_members, project_members.html
_.value_label  # scoring.units.ScoreUnits, _item_scores.html
_.pitfall, _.points_label  # annotator.forms.GridRow, jinja2/annotator/_criteria.html
_.side  # views_annotate.PreferenceOption, jinja2/annotator/workspace.html

# Named by a dotted path in settings or urls
_.api_exception_handler  # REST_FRAMEWORK["EXCEPTION_HANDLER"]
_.environment  # config.jinja, TEMPLATES[1]["OPTIONS"]["environment"]
_.not_found  # handler404
_.handler500, _.server_error  # config/urls.py: outages answer 503 (config/outage.py)
_.export_jobs_reconcile  # config/celery.py RECONCILERS, run by every worker's watchdog
_.markup_reconcile  # config/celery.py RECONCILERS, run by every worker's watchdog
_.lockout_response, _.original_response, _.credentials  # AXES_LOCKOUT_CALLABLE and its signature
_.UserBackend  # AUTHENTICATION_BACKENDS

# Model fields written by services and read by the ORM or serializers by name
_.guidelines, _.queue_key, _.has_disagreement, _.annotator, _.requested_by, _.row_count, _.archived_at
_.is_superuser  # createadmin sets Django's own field
_.sent_at  # scoring.models.ScoringBatch, written and filtered by keyword (scoring/services.py)

# Serializer and form fields, declared and read by name (validated_data, cleaned_data, Meta.fields)
_.updated_after, _.submitted_before, _.min_items, _.pairs_total, _.annotator_a, _.annotator_b
_.krippendorff_alpha_nominal, _.krippendorff_alpha_ordinal, _.krippendorff_alpha_interval
_.agreement_with_others, _.shared_items, _.items_with_overlap, _.pairwise_cohen_kappa, _.annotators_agreement
_.status_url, _.download_url, _.criterion_count, _.version_count, _.latest_published
_.elapsed_s, _.responses_per_s, _.tokens_per_s, _.eta_s, _.response_external_id, _.scorer_name
_.score_length_spearman, _.missing_scores, _.length_bias, _.api_key_env, _.extra_options, _.weights_preset
_.split_orders, _.rewardbench, _.rewardbench2, _.other_reference, _.ci95, _.unscored
_.verdict_accuracy, _.ties_broken_by_expectation, _.false_positives, _.false_positive_rate, _.active
_.lease_seconds, _.submit_url, _.skip_url, _.heartbeat_url  # annotator/api/annotate.py outputs
_.requested_at, _.compute_seconds  # insights.models.InsightsSnapshot, written by services, read by its serializer

# TextChoices members: stored and compared as their string values
_.ESSENTIAL, _.OPTIONAL, _.LIKERT5, _.POINTS, _.FLOAT32, _.BFLOAT16, _.FLOAT16, _.A, _.B, _.TIE, _.NONE

# Arguments a framework's signature requires
_.auto_schema, _.format_suffix
# http.server's handler and server interface (bench/judge.py's fake OpenAI-compatible server)
_.protocol_version, _.disable_nagle_algorithm, _.log_message, _.do_GET, _.do_POST, _.daemon_threads
_.request_queue_size

# Attributes of other libraries' objects, set for them
_.pad_token, _.pre_tokenizer  # tokenizers
_.auto_map  # a transformers config
_.ALLOWED_HOSTS  # bench/export.py configures Django's settings

# Public maths API, checked against published worked examples by the tests (insights will use it)
_.krippendorff_alpha_matrix, _.fleiss_kappa_from_counts

# Tiny models that tests/scoring builds through scoring/tiny_model.py (nothing is downloaded)
_.pad_is_eos_tokenizer, _.build_gated_reward_model

# Found by vulture and left to the code's owners (issue 16); delete each line with its code.
_.SYNTAXES, _.warnings  # rubrics/formats.py: never read
_.pairable_values  # annotator/agreement.py: written, never read
_.judgment_rubric_scores  # scoring/reports.py: never called
_.rubric_version_get_for_user, _.preference_probability  # only the tests call them

# Called by the io and ORM machinery
_.readinto  # annotator.services.imports._BigReads: io.BufferedReader calls it
_._result_cache, _._prefetch_done, _._prefetched_objects_cache  # queue._attach_responses: responses read with the item
