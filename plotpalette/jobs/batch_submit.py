"""One step's Bedrock batch job: reserve, stage, submit, follow, join.

Order of durable writes, so a process killed anywhere is resumed without submitting or
paying twice (see :mod:`.batch_state`):

1. the whole batch is **reserved** at batch rates (every record's worst case:
   ``max_tokens`` of output) through the worker's budget lease, whose mark is written
   before the reservation is granted; if the budget cannot cover every record, the
   batch shrinks to the records it can cover (the job then ends BUDGET_EXCEEDED with
   the rest unsettled), and below ``batch_min_records`` nothing is submitted;
2. the batch item is created (``staged``, with its idempotency token);
3. the input JSONL is staged and CreateModelInvocationJob called with that token;
4. the ARN is recorded (``submitted``); the job is polled with backoff;
5. the output is joined by ``recordId`` (order is not guaranteed), the answers saved in
   the store, the item marked ``joined``, and the reservation settled to the cost of
   the answered records' tokens at batch rates.

A batch submitted by a process that died is *adopted*: followed and joined, never
re-submitted; its cost is not reserved again because the dead worker's budget mark
already covers it (it is booked, at worst case, when its lease is reclaimed).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..errors import BatchInferenceError, BudgetExceededError, PricingError
from ..llm.base import Usage
from ..llm.bedrock_batch import FAILED_STATUSES, BatchJobStatus
from ..llm.bedrock_request import build_converse_request, parse_converse_response
from . import batch_state
from .batch import Open, answer_to_json
from .execute import FatalJobError, StepPlan

__all__ = ["BatchStep", "index_ranges", "ranges_to_indices"]


def index_ranges(indices: list[int]) -> list[list[int]]:
    """``[0,1,2,5]`` -> ``[[0,3],[5,6]]``: compact for a registry item."""
    out: list[list[int]] = []
    for i in sorted(indices):
        if out and out[-1][1] == i:
            out[-1][1] = i + 1
        else:
            out.append([i, i + 1])
    return out


def ranges_to_indices(ranges: list[list[int]]) -> set[int]:
    return {i for start, end in ranges for i in range(start, end)}


_FIX_EXPIRED = (
    "Bedrock did not finish the batch within its timeout. Resume the job "
    "(`plotpalette resume JOB`) to submit the unfinished records again, or run them "
    "on demand (inference_mode='on-demand')."
)
_FIX_FAILED = (
    "Read the message: usually the batch role cannot read or write batch_s3_uri, or "
    "the model is not offered for batch in this Region. Fix it and resume the job "
    "(`plotpalette resume JOB`), or run it on demand (inference_mode='on-demand')."
)


class BatchStep:
    """Runs ``todo`` (records needing step ``plan``) as batch jobs; returns answers."""

    def __init__(self, phase: Any, plan: StepPlan, n: int, todo: list[Open]) -> None:
        self.phase = phase
        self.runner = phase.runner
        self.client = phase.options.client
        self.opts = phase.options
        self.plan = plan
        self.n = n
        self.todo = {x.record.index: x for x in todo}
        self.model = plan.models[0]  # fallbacks are for the on-demand stragglers
        self.tables = self.runner.tables

    async def run(self) -> dict[int, dict[str, Any]]:
        r = self.runner
        found: dict[int, dict[str, Any]] = {}
        items = await r._io(batch_state.batch_items, self.tables, r.job_id, self.plan.id)
        for item in items:  # adopt what an earlier process submitted
            if item.data["state"] in batch_state.OPEN_STATES and not self.phase.stopping():
                found.update(await self._follow(item.key, dict(item.data), None))
        # re-read: an adopted batch may have ended (Stopped, Expired) while followed
        items = await r._io(batch_state.batch_items, self.tables, r.job_id, self.plan.id)
        covered = set().union(
            *(ranges_to_indices(i.data["indices"]) for i in items if i.data["state"] != "ended")
        )
        rest = [x for i, x in self.todo.items() if i not in covered and i not in found]
        if len(rest) >= self.opts.min_records and not self.phase.stopping():
            found.update(await self._submit(rest))
        return found

    # -- submit ------------------------------------------------------------------------
    def _worst(self, x: Open) -> tuple[float, int]:
        ex = self.phase.ex
        req = self.plan.request(x.rendered, (x.rng_seed + self.n) % 2**31, self.model)
        x.request = req
        max_in = ex.backend.max_input_tokens(req)
        try:
            usd = ex.prices.worst_case(self.model, max_in, self.plan.max_tokens, batch=True)
        except PricingError as exc:
            raise FatalJobError(exc) from None
        return usd, max_in + self.plan.max_tokens

    def _later(self, x: Open) -> float:
        """An estimate of the later steps' worst case for one record (their prompts
        are not known yet: this step's input plus its output, at their max_tokens)."""
        ex = self.phase.ex
        assert x.request is not None
        grow = ex.backend.max_input_tokens(x.request) + self.plan.max_tokens
        total = 0.0
        for plan in ex.plans[self.n + 1 :]:
            try:
                total += ex.prices.worst_case(plan.models[0], grow, plan.max_tokens, batch=True)
            except PricingError:
                continue  # that step will run on demand; its own reservation decides
            grow += plan.max_tokens
        return total

    async def _reserve(self, rest: list[Open]) -> tuple[Any, list[Open]]:
        """Reserve this step for the largest prefix of ``rest`` whose worst case, with
        room for the later steps, the budget covers (all of it, when it can)."""
        gov = self.runner.governor
        costs = [self._worst(x) for x in rest]
        later = [self._later(x) for x in rest]

        async def fits(k: int, *, keep: bool) -> Any:
            usd = sum(c[0] for c in costs[:k]) + (0.0 if keep else sum(later[:k]))
            tokens = sum(c[1] for c in costs[:k])
            try:
                res = await gov.reserve(usd, tokens, priority=True)
            except BudgetExceededError:
                gov.exhausted = False  # a smaller batch may still fit
                return None
            if not keep:  # a probe: the later steps reserve their own batches
                gov.release(res)
            return res

        lo, hi = 0, len(rest) + 1  # lo fits (trivially), hi does not
        if await fits(len(rest), keep=False) is not None:
            lo = len(rest)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if await fits(mid, keep=False) is not None:
                lo = mid
            else:
                hi = mid
        need = sum(c[0] for c in costs) + sum(later)
        err = BudgetExceededError(
            f"step {self.plan.id!r} and the steps after it need up to ${need:.4f} at batch "
            f"rates for {len(rest)} records; what is left of the budget covers {lo}",
            fix="Raise the budget and resume (`plotpalette resume JOB_ID --budget N`); "
            "the records already paid for are kept.",
        )
        res = await fits(lo, keep=True) if lo >= self.opts.min_records else None
        if res is None:
            self.runner._request_stop("budget", err)
            return None, []
        if lo < len(rest):
            self.runner._pending_budget_stop = err  # the rest waits for a larger budget
            self.phase.deferred.update(x.record.index for x in rest[lo:])
        return res, rest[:lo]

    async def _submit(self, rest: list[Open]) -> dict[int, dict[str, Any]]:
        r = self.runner
        reservation, chosen = await self._reserve(rest)
        if reservation is None:
            return {}
        # <batch_s3_uri>/input/ and /output/: the stack's batch role may read only the
        # first and write only the second (infra/plotpalette.yaml, book/batch.md)
        base = self.opts.s3_uri
        item = await r._io(
            batch_state.new_item,
            self.tables,
            r.job_id,
            self.plan.id,
            {
                "state": "staged",
                "status": "staged",
                "step": self.plan.id,
                "model": self.model,
                "records": len(chosen),
                "indices": index_ranges([x.record.index for x in chosen]),
                "output_uri": f"{base}/output/{r.job_id}/",
                "worker": r.worker,
                "run": getattr(r, "run_no", None),
                "reserved_usd": reservation.usd,
                "created": time.time(),
            },
        )
        data = dict(item.data)
        data["input_uri"] = f"{base}/input/{r.job_id}/{self.plan.id}-{data['seq']:04d}.jsonl"
        lines = []
        for x in chosen:
            body = build_converse_request(x.request, self.model, "prompt")
            body.pop("modelId")
            lines.append({"recordId": str(x.record.index), "modelInput": body})
        try:
            await r._io(self.client.put_jsonl, data["input_uri"], lines)
            await r._io(batch_state.change, self.tables, item.key, input_uri=data["input_uri"])
            arn = await r._io(
                self.client.create_job,
                name=f"pp-{data['token'][3:15]}-{data['seq']}",
                model=self.model,
                role_arn=self.opts.role_arn,
                input_uri=data["input_uri"],
                output_uri=data["output_uri"],
                token=data["token"],
                timeout_hours=self.opts.timeout_hours,
            )
        except BatchInferenceError as exc:
            # nothing reached Bedrock (or it refused): the reservation goes back
            r.governor.release(reservation)
            await r._io(batch_state.change, self.tables, item.key, state="ended", error=str(exc))
            r._request_stop("fatal", exc)
            return {}
        data.update(
            await r._io(
                batch_state.change,
                self.tables,
                item.key,
                state="submitted",
                arn=arn,
                status="Submitted",
            )
        )
        try:
            return await self._follow(item.key, data, reservation)
        except BaseException:
            self._book_worst(reservation)  # submitted: it may be billed whatever happens
            raise

    def _book_worst(self, reservation: Any) -> None:
        if reservation is not None and reservation.open:
            self.runner.governor.settle(reservation, reservation.usd, reservation.tokens)

    # -- follow and join ---------------------------------------------------------------
    async def _follow(
        self, key: str, data: dict[str, Any], reservation: Any
    ) -> dict[int, dict[str, Any]]:
        r = self.runner
        if not data.get("arn"):  # staged by a process that died before Bedrock answered
            data = await self._resubmit(key, data)
        arn = data["arn"]
        delay, last = self.opts.poll_s, None
        r._batch_waiting = True
        try:
            while True:
                st: BatchJobStatus = await r._io(self.client.get_job, arn)
                if last is None or st.status != last.status or st.counts != last.counts:
                    await self._publish(key, data, st)
                last = st
                if st.terminal:
                    break
                if self.phase.stopping():
                    if r.stop[0] == "cancel":
                        await r._io(self.client.stop_job, arn)
                        await self._publish(key, data, st, status="Stopping")
                    # interrupted: Bedrock goes on (and bills), a resume adopts the job
                    # without reserving it again, so it is booked now, at worst case
                    self._book_worst(reservation)
                    return {}
                waited = 0.0
                while waited < delay and not self.phase.stopping():
                    await asyncio.sleep(min(0.05, delay))
                    waited += min(0.05, delay)
                delay = min(delay * 1.5, self.opts.poll_max_s)
        finally:
            r._batch_waiting = False
        if st.status in FAILED_STATUSES or st.status == "Stopped":
            return await self._ended(key, st, reservation)
        await self._publish(key, data, st, status=st.status)
        return await self._join(key, data, st, reservation)

    async def _resubmit(self, key: str, data: dict[str, Any]) -> dict[str, Any]:
        """Stage and create again with the same token: Bedrock returns the same job if
        the first create went through, else creates it now (never two)."""
        r = self.runner
        wanted = ranges_to_indices(data["indices"])
        lines = []
        for i in sorted(wanted):
            x = self.todo.get(i)
            if x is None:  # its answer exists already: nothing to stage for it
                continue
            self._worst(x)
            body = build_converse_request(x.request, self.model, "prompt")
            body.pop("modelId")
            lines.append({"recordId": str(i), "modelInput": body})
        await r._io(self.client.put_jsonl, data["input_uri"], lines)
        arn = await r._io(
            self.client.create_job,
            name=f"pp-{data['token'][3:15]}-{data['seq']}",
            model=data["model"],
            role_arn=self.opts.role_arn,
            input_uri=data["input_uri"],
            output_uri=data["output_uri"],
            token=data["token"],
            timeout_hours=self.opts.timeout_hours,
        )
        return await r._io(
            batch_state.change, self.tables, key, state="submitted", arn=arn, status="Submitted"
        )

    async def _publish(
        self, key: str, data: dict[str, Any], st: BatchJobStatus, status: str | None = None
    ) -> None:
        r = self.runner
        shown = self.phase.status(self.plan, data, st)
        if status:
            shown["status"] = status
        await r._io(batch_state.change, self.tables, key, status=shown["status"])
        await r._io(r.registry.set_batch_status, r.job_id, shown)
        r._emit("batch", shown)

    async def _ended(
        self, key: str, st: BatchJobStatus, reservation: Any
    ) -> dict[int, dict[str, Any]]:
        """Failed, Expired or Stopped: nothing is joined. Whatever Bedrock processed
        may be billed, so the reservation is booked at its worst case."""
        r = self.runner
        await r._io(batch_state.change, self.tables, key, state="ended", status=st.status)
        if reservation is not None:
            r.governor.abandon(reservation)
        if st.status != "Stopped":
            fix = _FIX_EXPIRED if st.status == "Expired" else _FIX_FAILED
            err = BatchInferenceError(
                f"batch job {st.arn} (step {self.plan.id!r}) ended {st.status}"
                + (f": {st.message}" if st.message else ""),
                fix=fix.replace("JOB", r.job_id),
            )
            r._request_stop("fatal", err)
        return {}

    async def _join(
        self, key: str, data: dict[str, Any], st: BatchJobStatus, reservation: Any
    ) -> dict[int, dict[str, Any]]:
        r, ex = self.runner, self.phase.ex
        lines, _manifest = await r._io(self.client.read_output, st, data["input_uri"])
        found: dict[int, dict[str, Any]] = {}
        cost_all, tokens_all = 0.0, 0
        for line in lines:
            try:
                index = int(line.get("recordId"))
            except (TypeError, ValueError):
                continue  # not ours
            x = self.todo.get(index)
            if x is None or "modelOutput" not in line:
                continue  # an error line: the record runs on demand (a straggler)
            if x.request is None:
                self._worst(x)
            try:
                out = line["modelOutput"]
                resp = parse_converse_response(out, x.request, self.model, 0.0, "prompt")
                usage: Usage = resp.usage
                cost = ex.prices.cost(self.model, usage, batch=True)
            except Exception:  # a malformed line: billed perhaps, unusable
                continue
            cost_all += cost
            tokens_all += usage.total_tokens
            if resp.schema_error is not None and resp.stop_reason == "end_turn":
                x.waste += cost  # invalid JSON: paid, and asked again on demand
                continue
            found[index] = answer_to_json(index, resp, cost, "batch")
        await r._io(
            self.phase.save_answers,
            self.plan.id,
            f"batch-{data['seq']:04d}.jsonl",
            list(found.values()),
        )
        await r._io(batch_state.change, self.tables, key, state="joined", cost_usd=cost_all)
        if reservation is not None:
            r.governor.settle(reservation, cost_all, tokens_all)
        if any(x.waste for x in self.todo.values()):
            r.governor.add_waste(sum(x.waste for x in self.todo.values()))
        return found
