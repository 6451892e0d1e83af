"""A local AWS Batch simulator: run a submitted array job's children as real processes.

moto records what ``submit_job`` sent (queue, job definition, array size, parameters,
environment overrides) but runs nothing. :class:`BatchSimulator` reads that submission
and the job definition back from the (moto) Batch API and plays Batch's part:

- each array child becomes a real process running the job definition's command —
  the part after the wheelhouse bootstrap's ``exec "$@"``, with ``Ref::`` parameters
  substituted and ``python`` meaning this interpreter — with the job definition's
  environment, the submission's overrides and the variables Batch sets
  (``AWS_BATCH_JOB_ID``, ``AWS_BATCH_JOB_ARRAY_INDEX``, ``AWS_BATCH_JOB_ATTEMPT``);
- Spot interruptions: SIGTERM, then SIGKILL after ``stop_timeout_s`` (Batch's is
  30 s), or an outright SIGKILL (a task lost with its host), each with the status
  reason Fargate Spot reports;
- retries: every ended attempt goes through the job definition's ``retryStrategy``
  exactly as Batch evaluates it (:func:`retry_action`) — RETRY starts the next
  attempt, EXIT ends the child (SUCCEEDED on exit code 0, else FAILED).

The bootstrap itself (pip from the wheelhouse) is not run here: each child uses the
installed package. ``benchmarks/bench_aws_batch.py cold-start`` measures that part.
"""

from __future__ import annotations

import fnmatch
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SPOT_REASON", "Attempt", "BatchSimulator", "Child", "retry_action"]

SPOT_REASON = "Your Spot Task was interrupted."
EXITED_REASON = "Essential container in task exited"


def _matches(pattern: str | None, value: str | None) -> bool:
    return pattern is None or fnmatch.fnmatchcase(value or "", pattern)


def retry_action(
    strategy: Mapping[str, Any],
    *,
    attempt: int,
    exit_code: int | None,
    reason: str | None = None,
    status_reason: str | None = None,
) -> str:
    """``"RETRY"`` or ``"EXIT"`` for an attempt (counted from 1) that ended so.

    As AWS Batch decides: never more than ``attempts``; the ``evaluateOnExit`` rules
    in order, the first whose every given condition (glob) matches wins; no match
    retries.
    """
    if attempt >= int(strategy.get("attempts", 1) or 1):
        return "EXIT"
    code = None if exit_code is None else str(exit_code)
    for rule in strategy.get("evaluateOnExit") or []:
        if (
            _matches(rule.get("onExitCode"), code)
            and _matches(rule.get("onReason"), reason)
            and _matches(rule.get("onStatusReason"), status_reason)
        ):
            return str(rule["action"]).upper()
    return "RETRY"


@dataclass
class Attempt:
    exit_code: int | None = None
    status_reason: str = ""
    action: str = ""  # RETRY or EXIT
    interrupted: str = ""  # "", "term" or "kill"
    started: float = field(default_factory=time.monotonic)
    stopped: float | None = None
    signalled: float | None = None
    log: Any = None  # the attempt's output file, when the simulator keeps logs


@dataclass
class Child:
    index: int
    attempts: list[Attempt] = field(default_factory=list)
    status: str = "RUNNABLE"  # RUNNING, SUCCEEDED, FAILED
    proc: subprocess.Popen[bytes] | None = None


class BatchSimulator:
    """Plays AWS Batch for one submitted job (see the module docstring)."""

    def __init__(
        self,
        batch: Any,
        batch_job_id: str,
        *,
        env: Mapping[str, str] | None = None,
        extra_args: list[str] | None = None,
        stop_timeout_s: float = 30.0,
        log_dir: str | None = None,
    ) -> None:
        self.batch = batch
        self.job_id = batch_job_id
        job = batch.describe_jobs(jobs=[batch_job_id])["jobs"][0]
        self.submitted = job
        definition = batch.describe_job_definitions(jobDefinitions=[job["jobDefinition"]])
        self.definition = definition["jobDefinitions"][0]
        self.size = int((job.get("arrayProperties") or {}).get("size") or 1)
        self.strategy = self.definition.get("retryStrategy") or {"attempts": 1}
        self.children = [Child(i) for i in range(self.size)]
        self.env = dict(env or {})
        self.extra_args = list(extra_args or [])
        self.stop_timeout_s = stop_timeout_s
        self.log_dir = log_dir

    # -- what Batch would run ----------------------------------------------------------
    def argv(self) -> list[str]:
        command = list(self.definition["containerProperties"]["command"])
        if command[:2] == ["/bin/sh", "-c"]:  # bootstrap script, $0, then "$@"
            command = command[4:]
        params = {**(self.definition.get("parameters") or {}), **self.submitted["parameters"]}
        argv = []
        for arg in command:
            for name, value in params.items():
                arg = arg.replace(f"Ref::{name}", value)
            argv.append(arg)
        if argv and argv[0] in ("python", "python3"):
            argv[0] = sys.executable
        return argv + self.extra_args

    def environment(self, child: Child) -> dict[str, str]:
        base = self.definition["containerProperties"].get("environment", [])
        # the submitted job shows the definition's variables merged with the overrides;
        # the overrides are the pairs the definition does not have, and they win
        merged = (self.submitted.get("container") or {}).get("environment") or []
        env = {**os.environ, **self.env}
        for pair in [*base, *(p for p in merged if p not in base)]:
            env[pair["name"]] = pair["value"]
        env["AWS_BATCH_JOB_ID"] = f"{self.job_id}:{child.index}" if self.size > 1 else self.job_id
        env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(child.index)
        env["AWS_BATCH_JOB_ATTEMPT"] = str(len(child.attempts))
        return env

    # -- running -----------------------------------------------------------------------
    def _start(self, child: Child) -> None:
        attempt = Attempt()
        child.attempts.append(attempt)
        out: Any = subprocess.DEVNULL
        if self.log_dir:
            name = f"{self.log_dir}/child{child.index}-attempt{len(child.attempts)}.log"
            out = attempt.log = open(name, "wb")  # noqa: SIM115 - closed in _reap
        child.proc = subprocess.Popen(
            self.argv(), env=self.environment(child), stdout=out, stderr=subprocess.STDOUT
        )
        child.status = "RUNNING"

    def running(self) -> list[Child]:
        return [c for c in self.children if c.status == "RUNNING" and c.proc is not None]

    def interrupt(self, child: Child, kind: str = "term") -> None:
        """A Spot reclaim of ``child``'s task: SIGTERM ("term") or SIGKILL ("kill")."""
        attempt = child.attempts[-1]
        if child.proc is None or attempt.interrupted:
            return
        attempt.interrupted = kind
        attempt.signalled = time.monotonic()
        child.proc.send_signal(signal.SIGKILL if kind == "kill" else signal.SIGTERM)

    def _reap(self, child: Child) -> None:
        proc, attempt = child.proc, child.attempts[-1]
        assert proc is not None
        code = proc.returncode
        attempt.exit_code = 128 - code if code < 0 else code  # SIGKILL -> 137, as ECS says
        attempt.stopped = time.monotonic()
        if attempt.log is not None:
            attempt.log.close()
        attempt.status_reason = SPOT_REASON if attempt.interrupted else EXITED_REASON
        attempt.action = retry_action(
            self.strategy,
            attempt=len(child.attempts),
            exit_code=attempt.exit_code,
            status_reason=attempt.status_reason,
        )
        child.proc = None
        if attempt.action == "RETRY":
            self._start(child)
        else:
            child.status = "SUCCEEDED" if attempt.exit_code == 0 else "FAILED"

    def step(self) -> None:
        """Reap ended attempts (retrying per the strategy); escalate late SIGTERMs."""
        now = time.monotonic()
        for child in self.running():
            assert child.proc is not None
            attempt = child.attempts[-1]
            if child.proc.poll() is not None:
                self._reap(child)
            elif attempt.interrupted == "term" and now - attempt.signalled > self.stop_timeout_s:
                child.proc.kill()  # the stop timeout passed: the task is stopped for good

    def run(
        self,
        *,
        interruptions: int = 0,
        kill_share: float = 0.25,
        seed: int = 0,
        every_s: tuple[float, float] = (0.5, 2.0),
        may_interrupt: Callable[[Child], bool] | None = None,
        timeout_s: float = 600.0,
        poll_s: float = 0.05,
    ) -> list[Child]:
        """Start every child, interrupt ``interruptions`` random running ones (a
        ``kill_share`` of them with SIGKILL), and run until every child has ended."""
        rng = random.Random(seed)
        for child in self.children:
            self._start(child)
        deadline = time.monotonic() + timeout_s
        next_at = time.monotonic() + rng.uniform(*every_s)
        done = 0
        while any(c.status == "RUNNING" for c in self.children):
            if time.monotonic() > deadline:
                for child in self.running():
                    child.proc.kill()  # type: ignore[union-attr]
                raise TimeoutError(f"Batch simulation of {self.job_id} ran over {timeout_s} s")
            self.step()
            if done < interruptions and time.monotonic() >= next_at:
                ready = [
                    c
                    for c in self.running()
                    if not c.attempts[-1].interrupted
                    and (may_interrupt is None or may_interrupt(c))
                ]
                if ready:
                    victim = rng.choice(ready)
                    self.interrupt(victim, "kill" if rng.random() < kill_share else "term")
                    done += 1
                next_at = time.monotonic() + rng.uniform(*every_s)
            time.sleep(poll_s)
        return self.children

    def attempts(self) -> list[Attempt]:
        return [a for c in self.children for a in c.attempts]
