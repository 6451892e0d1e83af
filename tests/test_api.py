"""The public API is small, sorted and pinned."""

from importlib.metadata import version

import plotpalette

EXPECTED = [
    "PlotPaletteError",
    "Settings",
    "Workspace",
    "__version__",
    "info",
    "info_table",
]


def test_all_is_pinned_and_sorted():
    assert plotpalette.__all__ == EXPECTED
    assert plotpalette.__all__ == sorted(plotpalette.__all__)


def test_every_public_name_exists():
    missing = [name for name in plotpalette.__all__ if not hasattr(plotpalette, name)]
    assert missing == []


def test_version_matches_installed_metadata():
    assert plotpalette.__version__ == version("plotpalette")
