"""Plot Palette: synthetic training data from seed rows and prompt templates.

The public API is what ``__all__`` lists (pinned by a test). Everything else is
internal and may change.
"""

from ._version import __version__
from .config import Settings
from .diagnostics import info, info_table
from .errors import PlotPaletteError
from .workspace import Workspace

__all__ = [
    "PlotPaletteError",
    "Settings",
    "Workspace",
    "__version__",
    "info",
    "info_table",
]
