"""``plotpalette pause | unpause | delete``: steer or remove a job from any process.

``pause``/``unpause`` go through the registry, so they reach a job running in another
terminal, a notebook or a worker task. They are not ``resume``, which restarts a
*stopped* job. Registered by :func:`plotpalette.cli.jobs.register`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import ConfigError
from ..jobs import delete_job, pause_job, unpause_job
from ..workspace import Workspace
from .common import emit, settings_from_args

__all__ = ["register"]


def cmd_pause(args: argparse.Namespace) -> int:
    ws = Workspace.open(settings=settings_from_args(args))
    info = pause_job(ws, args.job_id)
    emit(
        args,
        info.to_dict(),
        f"job {info.job_id}: pause requested; its worker starts no new record from its next "
        f"checkpoint (calls in flight finish). `plotpalette unpause {info.job_id}` lets it "
        "go on.",
    )
    return 0


def cmd_unpause(args: argparse.Namespace) -> int:
    ws = Workspace.open(settings=settings_from_args(args))
    info = unpause_job(ws, args.job_id)
    emit(args, info.to_dict(), f"job {info.job_id}: unpaused; it goes on at its next checkpoint")
    return 0


def _confirm(args: argparse.Namespace) -> None:
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise ConfigError(
            f"`plotpalette delete {args.job_id}` needs confirmation and stdin is not a terminal",
            fix="Pass --yes to delete without asking.",
        )
    answer = input(
        f"Delete job {args.job_id} and all its files (records, exports in its folder)? "
        "Its cost history is kept. [y/N] "
    )
    if answer.strip().lower() not in ("y", "yes"):
        raise ConfigError("delete not confirmed; nothing was deleted", fix="Answer y, or --yes.")


def cmd_delete(args: argparse.Namespace) -> int:
    ws = Workspace.open(settings=settings_from_args(args))
    _confirm(args)
    done = delete_job(ws, args.job_id, force=args.force)
    emit(
        args,
        done.to_dict(),
        f"deleted job {done.job_id} ({done.state.value}): {done.files_removed} file(s) "
        f"removed; its spend ${done.spend_usd:.4f} stays in the cost ledger "
        f"({done.ledger_rows} rows)",
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from ..jobs import worker

    ws = Workspace.open(settings=settings_from_args(args))
    result = worker.serve(ws, args)
    if isinstance(result, int):
        return result
    emit(args, result.to_dict(), result.summary())
    return worker.exit_code(result)


def register(sub: argparse._SubParsersAction, common: list[Any]) -> None:
    """Add pause, unpause, delete and worker to ``sub`` (``common``: shared options)."""
    from ..jobs import worker

    p = sub.add_parser(
        "worker",
        parents=common,
        help="join a job as one more worker (exit 0: nothing left; 5: interrupted)",
    )
    worker.add_arguments(p)
    p.set_defaults(handler=cmd_worker)

    p = sub.add_parser(
        "pause", parents=common, help="pause a running job, wherever it runs (not `resume`)"
    )
    p.add_argument("job_id")
    p.set_defaults(handler=cmd_pause)

    p = sub.add_parser("unpause", parents=common, help="let a paused job go on")
    p.add_argument("job_id")
    p.set_defaults(handler=cmd_unpause)

    p = sub.add_parser(
        "delete", parents=common, help="delete a job's files (its cost history is kept)"
    )
    p.add_argument("job_id")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--force",
        action="store_true",
        help="a running job: cancel it, wait for its worker to stop, then delete",
    )
    p.set_defaults(handler=cmd_delete)
