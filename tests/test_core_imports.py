"""Layering rules: the core never loads widget/IPython code; boto3 stays in its corner."""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import plotpalette

PACKAGE_DIR = Path(plotpalette.__file__).parent
BOTO_ALLOWED = ("llm/bedrock", "aws/")


def core_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages([str(PACKAGE_DIR)], prefix="plotpalette."):
        if info.name.startswith(("plotpalette.ui", "plotpalette.__main__")):
            continue
        names.append(info.name)
    return names


def test_importing_the_core_loads_no_widgets_or_ipython():
    modules = core_modules()
    assert len(modules) > 5
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('ipywidgets', 'IPython'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_only_bedrock_and_aws_modules_import_boto3():
    offenders = []
    for path in PACKAGE_DIR.rglob("*.py"):
        rel = path.relative_to(PACKAGE_DIR).as_posix()
        if rel.startswith(BOTO_ALLOWED):
            continue
        if imports_of(path) & {"boto3", "botocore"}:
            offenders.append(rel)
    assert offenders == []
