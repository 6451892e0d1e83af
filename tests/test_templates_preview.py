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
    result = preview(tpl, rows, records=1000)
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
    result = preview(tpl, [{}])
    assert result.cost_per_record is None and result.cost_for_records is None
    assert any("vendor.unknown-model-v9" in n for n in result.notes)


def test_bad_rows_are_reported_per_row():
    result = preview(builtin_templates()["poem"], [{"topic": "x"}, sample_rows()[0]])
    assert result.rows[0].error and "poem.text" in result.rows[0].error
    assert result.rows[1].error is None


def test_preview_with_a_real_backend_calls_it():
    from plotpalette.testing import InstantBackend

    backend = InstantBackend()
    result = preview(builtin_templates()["question_answer"], sample_rows()[:2], backend=backend)
    assert len(backend.requests) == 4
    ask, answer = result.rows[0].steps
    assert ask.generated and ask.output and ask.output in answer.prompt
    assert result.token_counting == "backend instant"
    assert result.rows[0].actual_usd is not None


def test_preview_works_inside_a_running_event_loop():
    from plotpalette.testing import InstantBackend

    async def inside() -> int:
        result = preview(builtin_templates()["poem"], sample_rows()[:1], backend=InstantBackend())
        return len(result.rows)

    assert asyncio.run(inside()) == 1
