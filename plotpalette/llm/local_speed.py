"""How the embedded model is run fast and safely on this CPU: batching, threads, weights.

Measured on a shared 2-core AMD EPYC (AVX-512, no AMX), llama-cpp-python 0.3.36, see
``benchmarks/bench_local_model.py``. The README's job reads ~105 prompt tokens per step
and writes ~43, and two thirds of its time is decoding. Decoding one token reads every
weight (~145 MB as ``Q8_0``) for one row of arithmetic: it is bound by memory
bandwidth, so :mod:`.local_batch` can decode :func:`slots` calls together: a step of
four sequences took ~2× the time of a step of one (raw llama.cpp, 93 vs 177 tokens/s).
The README's job, alternating runs at load ~7 on the 2 cores: 27.5–28.0 records/min
batched against 17.2–18.8 before (those batched runs wrote ~350 output tokens against
513; per token, ~1.3× less CPU time). Part of that is the decoder's own loop, which
samples in C from llama.cpp's logits instead of copying all 49,152 of them into numpy
per token: at load ~9, 5.9 ms of CPU per token with one call at a time
(``PLOTPALETTE_LOCAL_BATCH=1``) and 5.4 with four, against 7.9 for
``create_chat_completion``. On a busy machine the CPU, not memory, is the limit, so
batching adds little there. On the idle machine (load < 1.2, measured by the lead):
the README job at 12 records gave 49 records/min one call at a time (858 output tokens,
the same every run) against 33 for the code before any speed work; four together gave
58–66 output tokens/s against 58, but wrote 638–1,286 tokens from run to run, because
batched arithmetic rounds differently and a seed no longer reproduces a call. So the
default is one call at a time (reproducible jobs); ``PLOTPALETTE_LOCAL_BATCH=4`` opts in.

Decoders: the idle machine's second core stayed unused while one thread decoded, so
there is one decoder per core (:func:`decoders`): a llama.cpp context of its own on the
shared weights, one call at a time, each call still decoded alone (the README's job
wrote the same 4,154 prompt and 1,821 output tokens with 1, 2, 3 and 4 decoders). The
lead's idle measurement, README job at 20 records: 57.2-57.7 records/min with two
decoders against 44.3 with one, and 28.7-29.2 for the code before any speed work
(2.0x); at 12 records 77.0 against 33.2 (2.3x). Three or four decoders on two cores
were slower (46.8, 52.2 against 52.1 for two at load 1.8).

Threads: on the idle machine one thread beat two for the whole job (41.9 vs 26.5
records/min, measured by the lead): decode steps carry one to four tokens, too little
work per thread between llama.cpp's per-operation barriers. Prompt chunks are hundreds
of tokens and do gain from more threads. So prompt steps use every core (at most 4,
:func:`threads`) and decode-only steps one (:func:`decode_threads`) unless other
processes keep every core busy; the decoder switches with ``llama_set_n_threads`` per
step.

The shipped ``Q4_1`` weights have no fast matrix-multiply kernel on x86 (llamafile's
tinyBLAS and the repacking kernels cover ``Q8_0``/``Q4_0``, not ``Q4_1``), so on first
use we convert them once to ``Q8_0`` (lossless for ``Q4_1`` values to within 8-bit
rounding; 145 MB, ~1 s) and cache the file. Set ``PLOTPALETTE_LOCAL_QUANT=q4_1`` to use
the shipped file (it decoded slower in the lead's measurement: 29.8 vs 41.9 records/min).

llama.cpp's "extra" CPU buffer types (weight repacking and AMX) crash in
``ggml_backend_amx_mul_mat`` on AMX CPUs (Sapphire Rapids class, ``AMX_INT8 = 1`` in
llama.cpp's system info; llama.cpp issue #20824, closed without a fix). Repacking
alone is safe, but the switch turns on both, so we enable it only when llama.cpp was
built without AMX. ``PLOTPALETTE_LLAMA_EXTRA_BUFFERS=0``/``1`` overrides that.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path

__all__ = [
    "DECODERS_ENV",
    "DECODE_THREADS_ENV",
    "EXTRA_BUFFERS_ENV",
    "QUANT_ENV",
    "SLOTS_ENV",
    "THREADS_ENV",
    "decode_threads",
    "decoders",
    "extra_buffers",
    "model_path",
    "prepare_openmp",
    "runtime_settings",
    "slots",
    "threads",
]

EXTRA_BUFFERS_ENV = "PLOTPALETTE_LLAMA_EXTRA_BUFFERS"
THREADS_ENV = "PLOTPALETTE_LLAMA_THREADS"
DECODE_THREADS_ENV = "PLOTPALETTE_LLAMA_DECODE_THREADS"
SLOTS_ENV = "PLOTPALETTE_LOCAL_BATCH"
DECODERS_ENV = "PLOTPALETTE_LOCAL_DECODERS"
QUANT_ENV = "PLOTPALETTE_LOCAL_QUANT"
CACHE_ENV = "PLOTPALETTE_CACHE"
_convert_lock = threading.Lock()


def prepare_openmp() -> None:
    """Let llama.cpp's idle OpenMP workers sleep instead of spin (before it is loaded).

    With spinning workers, two threads on two busy cores ran many times slower than one
    (prompt reading 152 → 30 tokens/s at load 6); with ``OMP_WAIT_POLICY=PASSIVE`` two
    threads stay ahead of one even on a loaded machine (they get two shares of the CPU)
    and use both cores when it is idle. A value the user set is kept.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _cores() -> int:
    """Usable cores, at most 4."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    return max(1, min(4, usable))


def threads() -> int:
    """Every usable core (at most 4), or ``PLOTPALETTE_LLAMA_THREADS`` (see
    :func:`prepare_openmp` for why this is safe on a busy machine)."""
    return _count(THREADS_ENV) or _cores()


def decoders() -> int:
    """Independent decoders (llama.cpp contexts on the shared weights): one per usable
    core (at most 4), or ``PLOTPALETTE_LOCAL_DECODERS``.

    Each runs one record's call at a time with its share of the threads, so the cores
    work on different records instead of meeting at llama.cpp's per-operation barriers,
    and every call is still decoded alone: a seed reproduces it (batching calls in one
    context does not, see :func:`slots`)."""
    return _count(DECODERS_ENV) or _cores()


def _count(env: str) -> int | None:
    value = os.environ.get(env, "").strip()
    return max(1, int(value)) if value.isdigit() else None


def decode_threads() -> int:
    """Threads for decode-only steps (asked again every few seconds by the decoder).

    ``PLOTPALETTE_LLAMA_DECODE_THREADS`` (or ``PLOTPALETTE_LLAMA_THREADS``) if set.
    Otherwise 1 while the machine has spare cores: a step decoding a few tokens gives
    each thread microseconds of work between llama.cpp's per-operation barriers, so a
    second thread costs more than it adds. But when other processes keep every core
    busy (load average above cores + 0.5), every core: then each thread is a share of
    the CPU, and one thread would get a fraction of what the machine would give us.
    """
    forced = _count(DECODE_THREADS_ENV) or _count(THREADS_ENV)
    if forced:
        return forced
    cores = threads()
    try:
        busy = os.getloadavg()[0] > cores + 0.5
    except OSError:  # no load average on this platform
        busy = False
    return cores if busy else 1


def slots() -> int:
    """How many calls decode together (:mod:`.local_batch`): 1, or ``PLOTPALETTE_LOCAL_BATCH``.

    One by default: batched calls round differently, so a seed would no longer reproduce
    a job, and on the idle 2-core machine four together gained only ~7 % per token."""
    return _count(SLOTS_ENV) or 1


def _has_amx() -> bool:
    import llama_cpp.llama_cpp as lib

    info = lib.llama_print_system_info().decode("utf-8", "replace")
    return "AMX_INT8 = 1" in info


def extra_buffers() -> bool:
    """Whether to let llama.cpp use its extra CPU buffer types (see the module doc)."""
    forced = os.environ.get(EXTRA_BUFFERS_ENV, "")
    if forced in ("0", "1"):
        return forced == "1"
    return not _has_amx()


def _quant() -> str:
    return os.environ.get(QUANT_ENV, "q8_0").strip().lower() or "q8_0"


def _cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "plotpalette"


def model_path(shipped: Path) -> Path:
    """The weights to load: the cached ``Q8_0`` conversion of ``shipped`` (made on first
    use), or ``shipped`` itself when asked for (``q4_1``) or when converting fails (a
    read-only home, say): speed is a nicety, running at all is not."""
    if _quant() != "q8_0":
        return shipped
    target = _cache_dir() / "models" / f"{shipped.stem.rsplit('.', 1)[0]}.Q8_0.gguf"
    with _convert_lock:
        if target.is_file():
            return target
        try:
            _convert(shipped, target)
        except (OSError, RuntimeError):
            return shipped
    return target


def _convert(shipped: Path, target: Path) -> None:
    import llama_cpp.llama_cpp as lib
    from llama_cpp._utils import suppress_stdout_stderr

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    os.close(fd)
    try:
        params = lib.llama_model_quantize_default_params()
        params.ftype = lib.LLAMA_FTYPE_MOSTLY_Q8_0
        params.allow_requantize = True  # the source is Q4_1; Q8_0 holds it almost exactly
        params.nthread = 1
        with suppress_stdout_stderr(disable=False):  # llama.cpp logs every tensor
            status = lib.llama_model_quantize(str(shipped).encode(), tmp.encode(), params)
        if status != 0:
            raise RuntimeError(f"converting {shipped} to Q8_0 failed")
        os.replace(tmp, target)  # atomic: another process never loads a half file
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def runtime_settings() -> str:
    """How the embedded model runs here, for ``plotpalette info`` and benchmarks."""
    wait = os.environ.get("OMP_WAIT_POLICY", "default")
    return (
        f"decoders={decoders()}, batch={slots()}, threads={threads()} (prompt) / "
        f"{decode_threads()} (decode), shared by the decoders, "
        f"extra_buffers={extra_buffers()}, weights={_quant()}, OMP_WAIT_POLICY={wait}"
    )
