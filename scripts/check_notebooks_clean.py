"""Fail if a committed notebook carries outputs, execution counts or widget state.

Cell tags (``parameters``, ``remove-input``...) are kept and required where they matter:
every notebook in notebooks/ must have exactly one cell tagged ``parameters``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def problems(path: Path, need_parameters: bool) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    out = []
    if "widgets" in nb.get("metadata", {}):
        out.append("notebook metadata holds widget state")
    if not nb.get("metadata", {}).get("kernelspec", {}).get("display_name"):
        out.append("kernelspec has no display_name (JupyterLab then asks for a kernel)")
    tagged = 0
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            out.append(f"cell {i} has outputs")
        if cell.get("execution_count") is not None:
            out.append(f"cell {i} has an execution count")
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            tagged += 1
    if need_parameters and tagged != 1:
        out.append(f"needs exactly one cell tagged 'parameters', found {tagged}")
    return out


def main(folders: list[str]) -> int:
    tracked = subprocess.run(
        ["git", "ls-files", "*.ipynb"], capture_output=True, text=True, check=True
    ).stdout.split()
    failed = 0
    for name in tracked:
        path = Path(name)
        if folders and not any(path.is_relative_to(f) for f in folders):
            continue
        for problem in problems(path, need_parameters=path.parts[0] == "notebooks"):
            print(f"{path}: {problem}")
            failed += 1
    print(f"notebooks checked: {len(tracked)}, problems: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
