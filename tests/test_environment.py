"""environment.yml (conda) and pyproject.toml (pip) describe the same environment."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
ENV = yaml.safe_load((ROOT / "environment.yml").read_text())
_REQ = re.compile(r"^\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*([^;#]*)")


def _split(requirement: str) -> tuple[str, str]:
    """('pyyaml', '>=6.0') from 'PyYAML>=6.0' (names normalised as PEP 503 does)."""
    name, spec = _REQ.match(requirement).groups()
    return re.sub(r"[-_.]+", "-", name).lower(), spec.replace(" ", "")


def _pip_requirements() -> dict[str, str]:
    project = PYPROJECT["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += [r for r in extra if not r.startswith("plotpalette")]
    return dict(_split(r) for r in reqs)


def _conda() -> dict[str, str]:
    return dict(_split(d) for d in ENV["dependencies"] if isinstance(d, str))


def _pip_section() -> list[str]:
    return next(d["pip"] for d in ENV["dependencies"] if isinstance(d, dict))


def test_environment_is_a_conda_file_on_conda_forge():
    assert ENV["name"] == "plotpalette"
    assert ENV["channels"] == ["conda-forge"]
    assert "pip" in _conda()


def test_every_runtime_dependency_is_in_the_environment_with_the_same_pin():
    pip, conda = _pip_requirements(), _conda()
    runtime = dict(_split(r) for r in PYPROJECT["project"]["dependencies"])
    missing = {name: spec for name, spec in runtime.items() if conda.get(name) != spec}
    assert missing == {}, f"environment.yml lacks or pins differently: {missing}"
    # Anything else conda installs that pip also knows must carry pip's pin, so the two
    # install routes cannot drift apart.
    drift = {
        name: (spec, pip[name]) for name, spec in conda.items() if name in pip and spec != pip[name]
    }
    assert drift == {}


def test_the_environment_installs_plotpalette_with_every_extra():
    assert "-e .[all]" in _pip_section()
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(re.search(r"\[(.*)\]", extras["all"][0]).group(1).split(",")) == set(extras) - {
        "all"
    }


def test_python_versions_agree_with_requires_python_and_classifiers():
    conda_python = _conda()["python"]
    requires = PYPROJECT["project"]["requires-python"]
    low = re.search(r">=\s*3\.(\d+)", requires).group(1)
    assert f">=3.{low}" in conda_python
    high = int(re.search(r"<3\.(\d+)", conda_python).group(1))
    classified = sorted(
        int(c.rsplit(".", 1)[1])
        for c in PYPROJECT["project"]["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    # The classifiers name each tested minor version, from requires-python's floor up to
    # the environment's ceiling, with no gaps.
    assert classified == list(range(int(low), high))
