"""Preview: prompts per row and step, placeholders, token counts and cost estimates."""

from __future__ import annotations

import asyncio

import pytest

from plotpalette.llm import PriceTable
from plotpalette.llm.tokens import approx_tokens
from plotpalette.samples import sample_rows
from plotpalette.templates import builtin_templates, placeholder, preview


def test_preview_without_backend_shows_placeholders_tokens_and_cost():
    tpl = builtin_templates()["question_answer"]
    rows = sample_rows()[:3]
    result = preview(tpl, rows, records=1000, backend_name="bedrock")
    assert len(result.rows) == 3 and result.token_counting == "approximation"
    ask, answer = result.rows[0].steps
    assert ask.model == "cheap" and ask.model_id == "amazon.nova-micro-v1:0"
    assert "Harbour at Six" in ask.prompt
    assert placeholder("ask") in answer.prompt
    assert ask.input_tokens == approx_tokens(f"{ask.system}\n{ask.prompt}")
    # the answer prompt may hold up to the ask step's max_tokens instead of the placeholder
    assert answer.worst_case_input_tokens == answer.input_tokens + tpl.steps[0].max_tokens
    prices = PriceTable.load()
    expected = prices.worst_case(
        ask.model_id, ask.worst_case_input_tokens, 120
    ) + prices.worst_case(answer.model_id, answer.worst_case_input_tokens, 400)
    assert result.rows[0].worst_case_usd == pytest.approx(expected)
    assert result.cost_per_record > 0
    assert result.cost_for_records == pytest.approx(result.cost_per_record * 1000)
    assert result.rows[0].outputs["question"] == placeholder("ask")
    text = result.to_text()
    assert "worst-case cost" in text and "for 1000 records" in text
    assert result.to_dict()["rows"][0]["steps"][0]["step_id"] == "ask"


def test_json_placeholders_follow_the_schema_and_unknown_conditions_are_marked():
    result = preview(builtin_templates()["conditional_example"], sample_rows()[:1])
    steps = {s.step_id: s for s in result.rows[0].steps}
    assert steps["mood"].output == '{"mood": "light"}'
    assert steps["celebrate"].condition.startswith("unknown")
    assert result.rows[0].outputs["mood"] == "light"


def test_unpriced_models_are_reported_not_guessed():
    tpl = "name: x\nsteps:\n  - id: a\n    model: vendor.unknown-model-v9\n    prompt: hi\n"
    result = preview(tpl, [{}], backend_name="bedrock")
    assert result.cost_per_record is None and result.cost_for_records is None
    assert any("vendor.unknown-model-v9" in n for n in result.notes)


def test_bad_rows_are_reported_per_row():
    result = preview(builtin_templates()["poem"], [{"topic": "x"}, sample_rows()[0]])
    assert result.rows[0].error and "poem.text" in result.rows[0].error
    assert result.rows[1].error is None


def test_preview_with_a_model_is_a_budgeted_job_in_the_ledger(workspace):
    from plotpalette.jobs import job_status, list_jobs, open_registry
    from plotpalette.templates import TemplateLibrary
    from plotpalette.testing import InstantBackend

    backend = InstantBackend()
    library = TemplateLibrary(workspace)
    tpl = library.get("question_answer")
    result = preview(
        tpl, sample_rows()[:2], call_model=True, backend=backend, budget_usd=0.5, library=library
    )
    assert len(backend.requests) == 4  # 2 rows x 2 steps, nothing more
    ask, answer = result.rows[0].steps
    assert ask.generated and ask.output and ask.output in answer.prompt
    assert result.rows[0].actual_usd is not None and result.rows[0].outputs
    # the calls were reserved and settled in the job's ledger, within the budget
    info = job_status(workspace, result.job_id)
    assert info.name == f"preview {tpl.ref}" and info.records_ok == 2
    assert result.spent_usd == pytest.approx(info.spend_usd) and 0 < info.spend_usd <= 0.5
    registry = open_registry(workspace)
    try:
        ledger = registry.ledger(result.job_id)
    finally:
        registry.close()
    assert {row.kind for row in ledger} >= {"lease", "close"}  # a budget lease, settled
    assert sum(row.settle_usd for row in ledger) == pytest.approx(info.spend_usd)
    assert sum(row.calls for row in ledger) == 4
    assert [j.job_id for j in list_jobs(workspace)] == [result.job_id]
    assert library.versions("question_answer") == [tpl.version]  # stored: not saved again


def test_preview_with_a_model_needs_a_budget_and_spends_none_without_one(workspace):
    from plotpalette.errors import ConfigError
    from plotpalette.jobs import list_jobs
    from plotpalette.testing import InstantBackend

    backend = InstantBackend()
    for kwargs in ({}, {"budget_usd": 0}, {"budget_usd": -1.0}):
        with pytest.raises(ConfigError, match="charged to a budget"):
            preview(builtin_templates()["poem"], sample_rows()[:1], backend=backend, **kwargs)
    assert backend.requests == [] and list_jobs(workspace) == []


def test_a_small_budget_previews_what_it_covers_and_no_more(workspace):
    from plotpalette.testing import InstantBackend

    backend = InstantBackend()
    tpl = builtin_templates()["question_answer"]
    result = preview(tpl, sample_rows()[:3], call_model=True, backend=backend, budget_usd=0.0003)
    assert result.spent_usd <= 0.0003
    assert any(r.error and "not previewed" in r.error for r in result.rows)


def test_a_draft_is_saved_as_a_version_before_it_is_billed(workspace):
    from plotpalette.templates import TemplateLibrary, parse_template
    from plotpalette.testing import InstantBackend

    library = TemplateLibrary(workspace)
    draft = parse_template(
        "name: draft_qa\nsteps:\n  - id: ask\n    model: cheap\n"
        "    prompt: 'One question about {{ poem.title }}.'\n"
    )
    result = preview(
        draft, sample_rows()[:1], backend=InstantBackend(), budget_usd=0.1, library=library
    )
    assert result.template == "draft_qa@1"
    assert library.history("draft_qa")[0].message == "saved for a preview with a model"


def test_preview_with_a_model_works_inside_a_running_event_loop(workspace):
    from plotpalette.testing import InstantBackend

    async def inside() -> int:
        result = preview(
            builtin_templates()["poem"], sample_rows()[:1], backend=InstantBackend(), budget_usd=0.1
        )
        return len(result.rows)

    assert asyncio.run(inside()) == 1


def test_preview_under_the_local_backend_shows_the_local_model_at_no_cost():
    from plotpalette.config import Settings

    tpl = builtin_templates()["question_answer"]
    result = preview(tpl, sample_rows()[:2], settings=Settings.load(backend="local"))
    assert result.backend == "local"
    for row in result.rows:
        assert {s.model_id for s in row.steps} == {"local/smollm2-135m-instruct"}
        assert row.worst_case_usd == 0.0
    assert result.rows[0].steps[0].model == "cheap"  # as the template names it
    assert result.cost_per_record == 0.0 and result.cost_for_records == 0.0
    assert any("backend local" in note for note in result.notes)
    assert "backend: local" in result.to_text()
    # an id no price table knows still runs (and costs nothing) on the local model
    unknown = "name: x\nsteps:\n  - id: a\n    model: vendor.unknown-model-v9\n    prompt: hi\n"
    assert preview(unknown, [{}], backend_name="local").cost_per_record == 0.0


def test_preview_under_bedrock_shows_the_tiers_bedrock_ids_and_their_price():
    from plotpalette.config import Settings

    settings = Settings.load(backend="bedrock", tiers={"premium": "amazon.nova-lite-v1:0"})
    tpl = builtin_templates()["question_answer"]
    result = preview(tpl, sample_rows()[:1], settings=settings)
    ask, answer = result.rows[0].steps
    assert result.backend == "bedrock"
    assert (ask.model, ask.model_id) == ("cheap", "amazon.nova-micro-v1:0")
    assert answer.model_id == settings.tiers[answer.model]
    assert ask.worst_case_usd > 0 and answer.worst_case_usd > 0
    assert result.cost_per_record > 0
    assert not any("backend local" in note for note in result.notes)


def test_preview_follows_the_configured_backend_by_default(monkeypatch):
    tpl = builtin_templates()["question_answer"]
    default = preview(tpl, sample_rows()[:1])  # the default backend is local
    assert default.backend == "local" and default.cost_per_record == 0.0
    monkeypatch.setenv("PLOTPALETTE_BACKEND", "bedrock")
    configured = preview(tpl, sample_rows()[:1])
    assert configured.backend == "bedrock"
    assert configured.rows[0].steps[0].model_id == "amazon.nova-micro-v1:0"
    assert configured.cost_per_record > 0
    # an explicit backend_name wins over the configured one
    assert preview(tpl, sample_rows()[:1], backend_name="local").cost_per_record == 0.0


def test_preview_rejects_an_unknown_backend_name():
    from plotpalette.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown backend 'openai'") as info:
        preview(builtin_templates()["poem"], sample_rows()[:1], backend_name="openai")
    assert "local" in info.value.fix and "bedrock" in info.value.fix


def test_a_local_id_under_bedrock_is_reported_on_the_row():
    tpl = "name: x\nsteps:\n  - id: a\n    model: local/smollm2-135m-instruct\n    prompt: hi\n"
    result = preview(tpl, [{}], backend_name="bedrock")
    assert "not a Bedrock model" in result.rows[0].error


def test_resolving_models_for_a_preview_loads_neither_boto3_nor_the_local_model():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from plotpalette.samples import sample_rows\n"
        "from plotpalette.templates import builtin_templates, preview\n"
        "for name in ('local', 'bedrock'):\n"
        "    tpl = builtin_templates()['question_answer']\n"
        "    preview(tpl, sample_rows()[:1], backend_name=name)\n"
        "print(sorted(m for m in ('boto3', 'botocore', 'llama_cpp') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_preview_accepts_a_library_reference():
    from plotpalette import preview, sample_seeds

    rows = sample_seeds("poetry").rows[:1]
    by_name = preview("question_answer", rows)
    pinned = preview("question_answer@1", rows)
    assert by_name.template == "question_answer@1" == pinned.template
    assert rows[0]["poem"]["title"] in by_name.rows[0].steps[0].prompt
