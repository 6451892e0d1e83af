"""The LLM judge: a rubric run as an ordinary job over a job's records.

:func:`judge` builds seed rows from the judged job's ``ok`` records (all, or a seeded
sample), creates a job with the rubric template and runs it through the public job API,
so the judge is budgeted by the same governor, resumable (:func:`~plotpalette.resume_job`
with the judge's job id), pausable and exportable like any job. A link file
``jobs/<judged>/quality/judges/<judge>.json`` ties the two; :func:`judge_scores` parses
each judge reply (native structured output or JSON in prose), validates it against the
rubric's schema and joins scores and rationales to the judged records by index. Replies
that do not validate are kept and counted as invalid, never guessed.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .. import layout
from ..errors import QualityError
from ..jobs import JobResult, JobSpec, create_job, iter_records, job_status, run_job
from .rubrics import load_rubric, parse_verdict, rubric_step

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["JudgeRun", "judge", "judge_jobs", "judge_scores", "sample_indices"]

# A judge keeps every paid reply: validity is decided by the rubric's schema, later.
_KEEP_ALL = {
    "empty": "keep",
    "repetition": "keep",
    "refusal": "keep",
    "truncated": "keep",
    "invalid_json": "keep",
}
SCORE_COLUMNS = [
    "index",
    "score",
    "rationale",
    "valid",
    "problem",
    "judge_model",
    "judge_cost_usd",
    "judge_job",
]


@dataclass
class JudgeRun:
    """A judge job: which job it judges, with which rubric, and how its run ended."""

    job_id: str  # the judge's own job id (resume, pause, export it like any job)
    judged_job: str
    rubric: str  # name@version
    records: int  # records sent to the judge
    result: JobResult | None = None  # None when created with run=False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["result"] = self.result.to_dict() if self.result else None
        return data


def sample_indices(indices: list[int], sample: int | float | None, seed: int) -> list[int]:
    """``indices`` (sorted), or a seeded sample: ``sample`` records or a fraction."""
    if sample is None:
        return sorted(indices)
    if isinstance(sample, bool) or not isinstance(sample, (int, float)) or sample <= 0:
        raise QualityError(
            f"sample must be a number of records or a fraction in (0, 1], got {sample!r}",
            fix="Pass e.g. sample=50 or sample=0.1, or None to judge every record.",
        )
    if isinstance(sample, float):
        if sample > 1:
            raise QualityError(
                f"sample={sample} is a fraction above 1", fix="Use a fraction in (0, 1]."
            )
        count = max(1, round(sample * len(indices)))
    else:
        count = min(sample, len(indices))
    return sorted(random.Random(seed).sample(sorted(indices), count))


def judge(
    workspace: Any,
    job_id: str,
    rubric: str = "judge_overall",
    *,
    sample: int | float | None = None,
    seed: int = 0,
    tier: str | None = None,
    model: str | None = None,
    budget_usd: float | None = None,
    budget_tokens: int | None = None,
    max_tokens: int | None = None,
    backend: Any = None,
    run: bool = True,
    name: str | None = None,
    **run_kwargs: Any,
) -> JudgeRun:
    """Judge ``job_id``'s ``ok`` records with ``rubric`` as a budgeted job.

    ``sample``: every record (``None``), a number of records or a fraction, drawn with
    ``seed``. ``max_tokens`` caps the judge's reply (as in a :class:`JobSpec`).
    ``tier`` (``cheap``/``balanced``/``premium``) or ``model`` chooses the
    judge's model (default: the rubric's own, ``cheap`` for the built-ins). The judge
    uses the judged job's backend unless ``backend`` is given (``"local"``,
    ``"bedrock"`` or a backend object). ``run_kwargs`` go to
    :func:`~plotpalette.run_job` (``on_event``, ``controls``, ``options``...). With
    ``run=False`` the job is only created (QUEUED); run it with ``run_job``.
    """
    from ..workspace import Workspace

    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    info = job_status(ws, job_id)  # JobNotFoundError names an unknown id
    tpl = load_rubric(ws, rubric)
    step = rubric_step(tpl)
    indices = [r.index for r in iter_records(ws, job_id, status="ok")]
    if not indices:
        raise QualityError(
            f"job {job_id} has no ok records to judge",
            fix="Run or resume the job first (plotpalette resume JOB_ID).",
        )
    chosen = sample_indices(indices, sample, seed)
    # a second pass keeps only the sampled records' outputs in memory
    wanted = set(chosen)
    outputs = {
        r.index: r.outputs for r in iter_records(ws, job_id, status="ok") if r.index in wanted
    }
    rows = [{"source_index": i, "outputs": outputs[i]} for i in chosen]
    spec = JobSpec(
        template=tpl.ref,
        seeds=rows,
        records=len(rows),
        budget_usd=budget_usd,
        budget_tokens=budget_tokens,
        max_tokens=max_tokens,
        tier=tier,
        models={step.id: model} if model else {},
        backend=backend if isinstance(backend, str) else info.spec.get("backend"),
        checks=dict(_KEEP_ALL),
        name=name or f"judge {job_id} ({tpl.name})",
    )
    judge_id = create_job(ws, spec)
    link = {
        "judge_job": judge_id,
        "judged_job": job_id,
        "rubric": tpl.ref,
        "records": len(rows),
        "indices": chosen,  # judge record i judges record indices[i]
        "sample": sample,
        "seed": seed,
        "created_at": time.time(),
    }
    ws.store.write_bytes(
        layout.quality_key(job_id, f"judges/{judge_id}.json"), json.dumps(link).encode()
    )
    out = JudgeRun(job_id=judge_id, judged_job=job_id, rubric=tpl.ref, records=len(rows))
    if run:
        engine = None if isinstance(backend, str) else backend
        out.result = run_job(ws, judge_id, backend=engine, **run_kwargs)
    return out


def judge_jobs(workspace: Any, job_id: str) -> list[dict[str, Any]]:
    """The judge jobs of ``job_id``, oldest first (their link records)."""
    from ..workspace import Workspace

    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    prefix = layout.quality_key(job_id, "judges/")
    links = [json.loads(ws.store.read_bytes(k)) for k in ws.store.list(prefix)]
    return sorted(links, key=lambda link: link["created_at"])


def _pick(ws: Any, job_id: str, judge_job: str | None) -> dict[str, Any]:
    links = judge_jobs(ws, job_id)
    if not links:
        raise QualityError(
            f"job {job_id} has not been judged",
            fix=f"Run a judge first: plotpalette judge {job_id} --sample 20 --budget 0.05",
        )
    if judge_job is None:
        return links[-1]
    for link in links:
        if link["judge_job"] == judge_job:
            return link
    known = ", ".join(link["judge_job"] for link in links)
    raise QualityError(f"{judge_job} is not a judge of job {job_id}", fix=f"Use one of: {known}.")


def judge_scores(workspace: Any, job_id: str, judge_job: str | None = None) -> pd.DataFrame:
    """One row per judged record of ``job_id`` (default: its latest judge).

    Columns: ``index`` (of the judged record), ``score``, ``rationale``, ``valid``,
    ``problem`` (why a reply is invalid), ``judge_model``, ``judge_cost_usd``,
    ``judge_job``. Records the judge has not reached yet (a paused or over-budget
    judge) have no row; resume the judge job to fill them in.
    """
    import pandas as pd

    from ..workspace import Workspace

    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    link = _pick(ws, job_id, judge_job)
    step = rubric_step(load_rubric(ws, link["rubric"]))
    indices = link["indices"]
    rows = []
    for record in iter_records(ws, link["judge_job"]):
        done = record.steps.get(step.id)
        verdict, problem = None, record.error
        if record.status == "ok" and done is not None and not done.skipped:
            verdict, problem = parse_verdict(done.output, step.json_schema or {})
        rows.append(
            {
                "index": indices[record.seed_index],
                "score": verdict["score"] if verdict else None,
                "rationale": verdict["rationale"] if verdict else None,
                "valid": verdict is not None,
                "problem": problem,
                "judge_model": done.model if done is not None else None,
                "judge_cost_usd": record.cost_usd,
                "judge_job": link["judge_job"],
            }
        )
    frame = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    frame["score"] = frame["score"].astype("Int64")
    return frame.sort_values("index", ignore_index=True)
