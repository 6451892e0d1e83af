"""Hugging Face ``datasets`` output: ``save_to_disk`` and, on request, ``push_to_hub``.

The dataset is built from Parquet files the exporter has already streamed to a staging
folder (``Dataset.from_parquet`` converts them batch by batch into an Arrow cache), so a
large job never sits in memory. ``push_to_hub`` runs only when the caller asks for it
with a repository id *and* a token is available (argument, ``HF_TOKEN``, or a
``huggingface-cli login``); otherwise it is an :class:`ExportError` before any upload.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from ..errors import ExportError

__all__ = ["hub_token", "push_dataset", "save_dataset"]


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise ExportError(
            "the Hugging Face `datasets` package is not installed",
            fix='pip install "plotpalette[hf]"',
        ) from None
    return datasets


def hub_token(token: str | None = None) -> str:
    """The Hub token to use, or an ExportError saying how to provide one."""
    if token:
        return token
    found = os.environ.get("HF_TOKEN")
    if not found:
        try:
            from huggingface_hub import get_token

            found = get_token()
        except ImportError:
            found = None
    if not found:
        raise ExportError(
            "push_to_hub needs a Hugging Face token and none was found",
            fix="Pass token=..., set HF_TOKEN, or run `huggingface-cli login`; or leave out "
            "push_to_hub to save the dataset locally only.",
        )
    return found


def save_dataset(
    parquet_files: list[Path],
    dest: Path,
    *,
    cache_dir: Path,
    rows: int,
    shard_size: int | None = None,
) -> Any:
    """Build a ``datasets.Dataset`` from ``parquet_files`` and ``save_to_disk(dest)``."""
    datasets = _datasets()
    files = [str(p) for p in parquet_files]
    ds = datasets.Dataset.from_parquet(files, cache_dir=str(cache_dir), keep_in_memory=False)
    num_shards = max(1, math.ceil(rows / shard_size)) if shard_size and rows else None
    ds.save_to_disk(str(dest), num_shards=num_shards)
    return ds


def push_dataset(
    dataset: Any, repo_id: str, *, token: str, private: bool, card_path: Path | None
) -> str:
    """Upload ``dataset`` (and the card as README.md) to the Hub; returns the repo URL.

    Not exercised by the test suite (tests never touch the network).
    """
    try:
        dataset.push_to_hub(repo_id, token=token, private=private)
        if card_path is not None:
            from huggingface_hub import HfApi

            HfApi(token=token).upload_file(
                path_or_fileobj=str(card_path),
                path_in_repo="README.md",
                repo_id=repo_id,
                repo_type="dataset",
                commit_message="Plot Palette dataset card",
            )
    except ExportError:
        raise
    except Exception as exc:  # any Hub failure becomes one clear error
        raise ExportError(
            f"push_to_hub to {repo_id!r} failed: {exc}",
            fix="Check the repository id, the token's write access and "
            "the network; the local copy is complete.",
        ) from exc
    return f"https://huggingface.co/datasets/{repo_id}"
