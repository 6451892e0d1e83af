"""Export a job to files: ``export_job`` (see ``frames`` for ``to_pandas``).

Works for a job in any state: a RUNNING, BUDGET_EXCEEDED, INTERRUPTED or CANCELLED job
exports the records settled so far (the shards are the truth), and its card says the
results are partial. Records are read once, streaming, through the job engine's shard
reader; the column plan is fixed from the template and the first records before the
first row is written.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import layout
from ..errors import ExportError, WorkspaceError
from ..records import Record
from ..store import LocalStore, Store, store_from_url
from ..workspace import Workspace
from . import hf
from .card import CardFacts, render_card
from .columns import ColumnPlan
from .quality_filter import quality_filtered, saved_report
from .source import job_info, open_workspace, planned_records, template_facts
from .writers import WriteResult, check_layout, write_files

__all__ = ["EXPORT_FORMATS", "ExportResult", "export_job"]

EXPORT_FORMATS = ("parquet", "jsonl", "csv", "hf")
MARKER = "export.json"  # written last: a folder with it holds a finished export


@dataclass
class ExportResult:
    """What an export produced."""

    job_id: str
    format: str
    dest: str  # a local folder, or the store URL + prefix
    files: list[str]  # data files, local paths when the destination is local
    rows: int
    columns: list[str]
    card_path: str | None
    job_state: str
    counts: dict[str, int] = field(default_factory=dict)  # exported rows by status
    partitions: dict[str, int] = field(default_factory=dict)  # "col=value" -> rows
    hub_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Tally:
    """Counts exported rows by status and models by step while they stream past."""

    def __init__(self) -> None:
        self.status: Counter[str] = Counter()
        self.models: dict[str, Counter[str]] = defaultdict(Counter)

    def wrap(self, records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            self.status[record.status] += 1
            for step_id, step in record.steps.items():
                if not step.skipped:
                    self.models[step_id][step.model] += 1
            yield record


def _destination(
    ws: Workspace,
    job_id: str,
    dest: str | Path | None,
    fmt: str,
) -> tuple[Store, str, str]:
    """(store, key prefix ending in '/', a printable location)."""
    if dest is None:
        prefix = layout.export_prefix(job_id) + f"{fmt}/"
        return ws.store, prefix, ws.store.location(prefix.rstrip("/"))
    text = str(dest)
    if "://" in text:  # s3://bucket/prefix (or file://): the export streams into it
        store = store_from_url(text, region=ws.settings.region, profile=ws.settings.aws_profile)
        return store, "", store.location()
    path = Path(text).expanduser().resolve()
    if path.parent == path:
        raise ExportError(
            f"cannot export into the file-system root {path}", fix="Choose a folder for the export."
        )
    if path.exists() and not path.is_dir():
        raise ExportError(
            f"destination {path} exists and is not a folder", fix="Choose a folder path for dest."
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(
            f"cannot create the destination folder {path}: {exc.strerror or exc}",
            fix="Choose a folder you can write to (its parents must be folders, not files).",
        ) from None
    return LocalStore(path.parent), f"{path.name}/", str(path)


def _clear(store: Store, prefix: str, where: str, overwrite: bool) -> None:
    existing = store.list(prefix)
    if not existing:
        return
    if not overwrite:
        raise ExportError(
            f"{where} already holds files",
            fix="Pass overwrite=True (--overwrite) to replace an earlier "
            "export, or choose another destination.",
        )
    if not store.exists(prefix + MARKER):
        raise ExportError(
            f"{where} holds files that are not a Plot Palette export; refusing to delete them",
            fix="Choose an empty folder or a previous export's folder.",
        )
    store.delete_prefix(prefix)


def _command(job_id: str, fmt: str, where: str, *, default_dest: bool, **opts: Any) -> str:
    parts = ["plotpalette", "export", job_id, "--format", fmt]
    if not default_dest:
        parts += ["--dest", where]
    if opts["columns"] is not None:
        parts += ["--columns", ",".join(opts["columns"])]
    if opts["metadata"] is not None:
        parts += ["--metadata", ",".join(opts["metadata"])]
    if opts["json_columns"]:
        parts += ["--json-columns", ",".join(opts["json_columns"])]
    if opts["include_prompts"]:
        parts.append("--include-prompts")
    if not opts["only_ok"]:
        parts.append("--all-statuses")
    if opts["partition_by"]:
        parts += ["--partition-by", opts["partition_by"]]
    if opts["shard_size"]:
        parts += ["--shard-size", str(opts["shard_size"])]
    if opts.get("quality"):
        parts += ["--where", opts["quality"]]
    return shlex.join(parts)


def export_job(
    workspace: Workspace | str | Path | None,
    job_id: str,
    dest: str | Path | None = None,
    *,
    format: str = "parquet",
    columns: Sequence[str] | None = None,
    metadata: Sequence[str] | None = None,
    include_prompts: bool = False,
    only_ok: bool = True,
    json_columns: Sequence[str] = (),
    partition_by: str | None = None,
    shard_size: int | None = None,
    overwrite: bool = False,
    license: str = "other",
    push_to_hub: str | None = None,
    token: str | None = None,
    private: bool = True,
    where: Any = None,
) -> ExportResult:
    """Export a job's records (any job state) as flat, typed columns, with a dataset card.

    Args:
        workspace: a :class:`Workspace` or its location (``None``: the default one).
        job_id: the job to export; :class:`JobNotFoundError` if unknown.
        dest: a local folder or an ``s3://bucket/prefix`` (files stream there; Parquet
            as multipart uploads); default ``jobs/<id>/exports/<format>/`` in the
            workspace.
        format: ``parquet``, ``jsonl``, ``csv`` or ``hf`` (Hugging Face ``save_to_disk``).
        columns: exactly these columns, in order (see ``plan_columns``); default: the
            template's output columns plus ``metadata``.
        metadata: metadata columns or groups (default ``DEFAULT_METADATA``).
        include_prompts: add ``<step>_system`` / ``<step>_prompt`` text columns.
        only_ok: export only ``ok`` records (default); ``False`` adds failed/filtered.
        json_columns: columns to store as JSON text (needed for nested values in CSV).
        partition_by: a column name or ``"date"``: Hive folders ``col=value/``.
        shard_size: at most this many rows per file.
        overwrite: replace an earlier export at ``dest`` (it is deleted first).
        license: the card's licence id (Hugging Face licence identifiers).
        push_to_hub: with ``format="hf"``, also upload to this Hub repository
            (needs a token: ``token=``, ``HF_TOKEN`` or ``huggingface-cli login``).
        where: a quality filter — a :class:`~plotpalette.quality.QualityFilter`, its
            text form (``"min_score=4,unique,no_flags,not_rejected"``) or a dict; only
            records that pass are exported, and the card says what it removed and why.

    Files are published only when complete; if the export fails midway every file it
    wrote is removed again and the error is raised.
    """
    if format not in EXPORT_FORMATS:
        raise ExportError(
            f"unknown export format {format!r}", fix=f"Use one of: {', '.join(EXPORT_FORMATS)}."
        )
    if format == "hf" and partition_by:
        raise ExportError(
            "partition_by applies to file exports, not to format='hf'",
            fix="Use format='parquet' with partition_by, or drop partition_by.",
        )
    if push_to_hub and format != "hf":
        raise ExportError("push_to_hub needs format='hf'", fix="Pass format='hf'.")
    hub_token = hf.hub_token(token) if push_to_hub else None  # fail before any work
    ws = open_workspace(workspace)
    info = job_info(ws, job_id)
    tpl = template_facts(ws, info)
    options = dict(
        columns=columns,
        metadata=metadata,
        include_prompts=include_prompts,
        json_columns=json_columns,
    )
    plan, records = planned_records(ws, job_id, tpl, only_ok=only_ok, **options)
    kept = quality_filtered(ws, job_id, records, where, only_ok=only_ok)
    if format == "csv":
        plan = plan.for_flat_format("csv")
    check_layout(plan, partition_by, shard_size)  # every option checked before any write
    store, prefix, where = _destination(ws, job_id, dest, format)
    _clear(store, prefix, where, overwrite)
    tally = _Tally()
    file_format = "parquet" if format == "hf" else format
    published = False
    staging = contextlib.ExitStack()  # the hf staging folder lives until the push is done
    try:
        if format == "hf":
            written, files, dataset = _write_hf(
                store, prefix, plan, tally.wrap(kept.records), shard_size, staging
            )
        else:
            written = write_files(
                tally.wrap(kept.records),
                plan,
                store,
                prefix,
                file_format,
                partition_by=partition_by,
                shard_size=shard_size,
            )
            files = [_shown(store, k) for k in written.keys]
        card_text = render_card(
            CardFacts(
                job_id=job_id,
                job_name=info.name,
                state=info.state.value,
                template_ref=tpl.ref,
                template_hash=tpl.hash,
                template_category=tpl.category,
                template_description=tpl.description,
                seeds=info.spec.get("seeds"),
                seeds_format=info.spec.get("seeds_format"),
                price_table_version=", ".join(info.price_tables) or None,
                records_requested=info.records_total,
                counts={
                    "ok": info.records_ok,
                    "failed": info.records_failed,
                    "filtered": info.records_filtered,
                },
                spend_usd=info.spend_usd,
                settled_usd=info.settled_usd,
                reserved_usd=info.reserved_usd,
                budget_usd=info.budget_usd,
                created_at=info.created_at,
                finished_at=info.finished_at,
                spec=info.spec,
                export_format=format,
                export_rows=written.rows,
                export_counts=dict(tally.status),
                columns=[(c.name, str(c.type)) for c in plan.columns],
                files=[k[len(prefix) :] for k in written.keys],
                models=dict(tally.models),
                partition_by=partition_by,
                only_ok=only_ok,
                include_prompts=include_prompts,
                license=license,
                data_files=None if format == "hf" else f"data/**/*.{file_format}",
                export_command=_command(
                    job_id,
                    format,
                    where,
                    default_dest=dest is None,
                    only_ok=only_ok,
                    partition_by=partition_by,
                    shard_size=shard_size,
                    quality=kept.text,
                    **options,
                ),
                reproduce_command="plotpalette run --spec spec.json",
                quality_filter=kept.facts,
                quality_report=saved_report(ws, job_id),
            )
        )
        store.write_bytes(prefix + "README.md", card_text.encode())
        result = ExportResult(
            job_id=job_id,
            format=format,
            dest=where,
            files=files,
            rows=written.rows,
            columns=plan.names,
            card_path=_shown(store, prefix + "README.md"),
            job_state=info.state.value,
            counts=dict(tally.status),
            partitions=written.partitions,
        )
        _write_marker(store, prefix, result)
        # The local export is complete and marked from here on: a failed upload keeps it
        # (as push_dataset's fix says) and a retry with overwrite=True may replace it.
        published = True
        if push_to_hub:
            card = Path(staging.enter_context(tempfile.TemporaryDirectory())) / "README.md"
            card.write_text(card_text, encoding="utf-8")
            result.hub_url = hf.push_dataset(
                dataset, push_to_hub, token=hub_token or "", private=private, card_path=card
            )
            _write_marker(store, prefix, result)
    except BaseException as exc:
        if not published:  # data files without the marker: nobody could replace them
            _remove_unpublished(store, prefix)
        if isinstance(exc, (OSError, WorkspaceError)):
            raise ExportError(
                f"cannot write the export to {where}: {exc}",
                fix="Choose a writable destination with free space.",
            ) from exc
        raise
    finally:
        staging.close()
    return result


def _write_marker(store: Store, prefix: str, result: ExportResult) -> None:
    marker = {"plotpalette_export": 1, "exported_at": time.time(), **result.to_dict()}
    store.write_bytes(prefix + MARKER, json.dumps(marker, indent=1).encode())


def _remove_unpublished(store: Store, prefix: str) -> None:
    """Delete what an export that failed before its marker wrote (``_clear`` left the
    destination empty, so everything under ``prefix`` is its own)."""
    for key in store.list(prefix):
        with contextlib.suppress(Exception):
            store.delete(key)


def _shown(store: Store, key: str) -> str:
    return store.location(key)


def _write_hf(
    store: Store,
    prefix: str,
    plan: ColumnPlan,
    records: Iterable[Record],
    shard_size: int | None,
    staging: contextlib.ExitStack,
) -> tuple[WriteResult, list[str], Any]:
    """Stream Parquet to a local staging folder, ``save_to_disk`` there, then stream the
    dataset's files into the destination store (a folder or ``s3://``)."""
    tmp = Path(staging.enter_context(tempfile.TemporaryDirectory(prefix="pp-hf-")))
    local = LocalStore(tmp)
    written = write_files(records, plan, local, "parquet/", "parquet", shard_size=shard_size)
    parquet = [Path(local.location(k)) for k in written.keys]
    built = tmp / "dataset"
    hf.save_dataset(
        parquet, built, cache_dir=tmp / "cache", rows=written.rows, shard_size=shard_size
    )
    keys = []
    for path in sorted(p for p in built.rglob("*") if p.is_file()):
        key = prefix + path.relative_to(built).as_posix()
        with path.open("rb") as src, store.open_writer(key) as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
        keys.append(key)
    from datasets import load_from_disk

    result = WriteResult(keys=keys, rows=written.rows)
    return result, [_shown(store, k) for k in keys], load_from_disk(str(built))
