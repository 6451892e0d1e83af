"""What ships beside the code: the built guide, the notebooks and the documentation URL.

A wheel carries the guide and the notebooks under ``plotpalette/_bundle/`` (put there by
``scripts/build_dist.py`` in the copy it builds from); a source checkout has them at
``book/_build/html`` (once the book is built) and ``notebooks/``. The documentation URL
has one source, ``[project.urls]`` in ``pyproject.toml``, read back from the installed
package's metadata — so cards never link a site that was not declared.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .errors import BundleNotFoundError

__all__ = [
    "BundledFile",
    "copy_notebooks",
    "documentation_url",
    "guide_index",
    "notebooks_dir",
]

_PACKAGE = Path(__file__).resolve().parent
_BUNDLE = _PACKAGE / "_bundle"


@dataclass(frozen=True)
class BundledFile:
    """A shipped file and where it came from: ``"wheel"`` or ``"checkout"``."""

    path: Path
    source: str


def _checkout() -> Path | None:
    """The source checkout this package runs from (an editable install), if any."""
    root = _PACKAGE.parent
    if (root / "pyproject.toml").is_file() and (root / "book" / "_toc.yml").is_file():
        return root
    return None


def documentation_url() -> str | None:
    """The published guide's URL from the package metadata, or None while none exists."""
    try:
        urls = metadata.metadata("plotpalette").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:  # imported from a tree that was never installed
        return None
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "documentation" and url.strip():
            return url.strip()
    return None


def guide_index() -> BundledFile:
    """The built guide's ``index.html``: shipped in the wheel, or built in the checkout."""
    shipped = _BUNDLE / "guide" / "index.html"
    if shipped.is_file():
        return BundledFile(shipped, "wheel")
    root = _checkout()
    if root is not None:
        built = root / "book" / "_build" / "html" / "index.html"
        if built.is_file():
            return BundledFile(built, "checkout")
        raise BundleNotFoundError(
            f"the guide has not been built in this checkout ({built} is missing)",
            fix='Build it: pip install -e ".[docs]" and `jupyter-book build book` '
            "(needs graphviz's `dot`), then run `plotpalette docs` again.",
        )
    online = documentation_url()
    raise BundleNotFoundError(
        "this install carries no built guide (a wheel built without it)",
        fix=(f"Read the guide at {online}" if online else "Install a release wheel")
        + ", or build it from the repository's book/ folder with `jupyter-book build book`.",
    )


def notebooks_dir() -> BundledFile:
    """The folder of the task notebooks (``00_welcome.ipynb`` …)."""
    shipped = _BUNDLE / "notebooks"
    if any(shipped.glob("*.ipynb")):
        return BundledFile(shipped, "wheel")
    root = _checkout()
    if root is not None and any((root / "notebooks").glob("*.ipynb")):
        return BundledFile(root / "notebooks", "checkout")
    raise BundleNotFoundError("this install carries no notebooks (a wheel built without them)")


def copy_notebooks(dest: str | Path, *, overwrite: bool = False) -> tuple[list[Path], list[Path]]:
    """Copy the notebooks into ``dest``; returns (copied, skipped because they exist).

    Existing files are kept unless ``overwrite``: they may hold the user's edits.
    """
    source = notebooks_dir().path
    target = Path(dest).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    copied, skipped = [], []
    for nb in sorted(source.glob("*.ipynb")):
        out = target / nb.name
        if out.exists() and not overwrite:
            skipped.append(out)
            continue
        shutil.copyfile(nb, out)
        copied.append(out)
    return copied, skipped
