"""Sortable, filterable tables for the apps: ipydatagrid (a maintained Jupyter widget whose
JupyterLab extension ships in its wheel, so it renders offline, with no CDN).

Column headers sort and filter in the browser; colours follow the JupyterLab theme
(light or dark). :func:`selected_values` reads the rows the user clicked *as shown*
(after their sort and filter), so an app acts on the row that was clicked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["data_grid", "frame_of", "on_select", "selected_values", "set_frame"]

ROW_PX = 22
MAX_ROWS_SHOWN = 12


def _height(rows: int) -> str:
    # header + rows + room for a horizontal scroll bar
    return f"{ROW_PX * (min(max(rows, 1), MAX_ROWS_SHOWN) + 1) + 24}px"


def data_grid(
    frame: pd.DataFrame,
    *,
    key: str,
    widths: dict[str, int] | None = None,
    formats: dict[str, str] | None = None,
    select_rows: bool = False,
) -> Any:
    """A grid showing ``frame`` with column ``key`` first (the grid's row header, so no
    meaningless 0, 1, 2 column); ``widths`` in pixels per column; rows selectable if
    asked; ``formats`` are d3-format strings per column (``"$,.6f"``, ``".1%"``): the
    cells show them while sorting and filtering use the numbers."""
    from ipydatagrid import DataGrid, TextRenderer
    from ipywidgets import Layout

    grid = DataGrid(
        frame.set_index(key),
        selection_mode="row" if select_rows else "none",
        base_row_size=ROW_PX,
        base_column_header_size=ROW_PX,
        base_column_size=90,
        column_widths=dict(widths or {}),
        renderers={c: TextRenderer(format=f) for c, f in (formats or {}).items()},
        editable=False,
        layout=Layout(height=_height(len(frame)), width="auto"),
    )
    grid.plotpalette_key = key
    return grid


def set_frame(grid: Any, frame: pd.DataFrame) -> None:
    """Show ``frame`` in ``grid`` (selection cleared: the rows it named may be gone)."""
    grid.clear_selection()
    grid.data = frame.set_index(grid.plotpalette_key)
    grid.layout.height = _height(len(frame))


def frame_of(grid: Any) -> pd.DataFrame:
    """What the grid shows, as a DataFrame with the key as an ordinary column."""
    return grid.data.reset_index()


def selected_values(grid: Any, column: str) -> list[Any]:
    """``column``'s value in each selected row, as the user sees the rows (sorted and
    filtered in the browser), first selection first, without repeats."""
    visible = grid.get_visible_data().reset_index()
    if column not in visible.columns:
        return []
    seen: list[Any] = []
    for cell in grid.selected_visible_cell_iterator:
        value = visible.iloc[cell["r"]][column]
        if value not in seen:
            seen.append(value)
    return seen


def on_select(grid: Any, column: str, callback: Callable[[Any], None]) -> None:
    """Call ``callback(value)`` with ``column`` of the row the user clicked."""

    def changed(_: Any) -> None:
        values = selected_values(grid, column)
        if values:
            callback(values[0])

    grid.observe(changed, names="selections")
