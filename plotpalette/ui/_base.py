"""What every widget app shares: a visible log panel and error routing.

Apps follow three rules (so papermill runs and tests drive the same code as a user):

1. Widgets are public attributes (``app.records.value = 20``; ``app.run_button.click()``).
2. Every button calls a *public method* of the app (``run_button`` → ``app.run()``);
   headless notebooks call the method directly.
3. Errors never vanish into a callback: :meth:`App.guard` catches them and writes the
   message and its fix to ``app.log`` (an ``Output``). Threads write with
   ``append_stdout`` / ``append_stderr``, never ``with out:``, which is not
   thread-safe and does not capture outside a kernel.
"""

from __future__ import annotations

import functools
import os
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import ipywidgets as widgets

from ..errors import PlotPaletteError

__all__ = ["App", "no_positional", "reject_positional_workspace"]

F = TypeVar("F", bound=Callable[..., Any])


class App:
    """Base class of the widget apps. Subclasses build ``self.widget``."""

    title = "Plot Palette"

    def __init__(self) -> None:
        self.log = widgets.Output(
            layout=widgets.Layout(max_height="12em", overflow="auto", border="1px solid #8886")
        )
        self.status = widgets.HTML()
        self.errors: list[BaseException] = []
        self.widget: widgets.Widget = widgets.VBox()

    # -- logging ---------------------------------------------------------------
    def info(self, message: str) -> None:
        self.log.append_stdout(message.rstrip("\n") + "\n")

    def error(self, exc: BaseException) -> None:
        """Record ``exc`` and show it with its fix in the log panel and status line."""
        self.errors.append(exc)
        if isinstance(exc, PlotPaletteError):
            text = f"{exc.message}\nfix: {exc.fix}\n"
        else:  # a bug, not user error: keep the traceback visible
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.log.append_stderr(text)
        first = text.splitlines()[0] if text else type(exc).__name__
        self.status.value = f"<span style='color:#b00020'>⚠ {_escape(first)}</span>"

    @staticmethod
    def guard(method: F) -> F:
        """Decorator for methods called from buttons: route errors to the log panel.

        Called directly (headless), the error is still raised after being logged, so a
        papermill run fails loudly instead of silently.
        """

        @functools.wraps(method)
        def wrapper(self: App, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:
                self.error(exc)
                raise

        return wrapper  # type: ignore[return-value]

    def on_click(self, button: widgets.Button, method: Callable[[], Any]) -> None:
        """Wire ``button`` to a public method; errors are logged, never lost."""

        def handler(_: widgets.Button) -> None:
            try:
                method()
            except Exception as exc:
                if not self.errors or self.errors[-1] is not exc:
                    self.error(exc)

        button.on_click(handler)

    # -- display -----------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self) -> None:  # pragma: no cover - needs a kernel
        from IPython.display import display

        display(self.widget)


def reject_positional_workspace(app: str, value: object, example: str = "") -> None:
    """The one constructor convention of the apps: the workspace is always a keyword
    (``App(workspace=ws)``). A Workspace, folder path or extra positional argument in
    its place is refused with the call to write instead, not a confusing error later."""
    from ..workspace import Workspace

    if isinstance(value, (Workspace, os.PathLike)):
        call = example or f"{app}(workspace=ws)"
        raise TypeError(
            f"{app} takes the workspace by keyword, not as a positional argument "
            f"(got {type(value).__name__}); write {call}"
        )


def no_positional(app: str, args: tuple[object, ...]) -> None:
    """Refuse positional arguments to an app whose arguments are all keywords."""
    if args:
        reject_positional_workspace(app, args[0])
        raise TypeError(
            f"{app} takes keyword arguments only (got {len(args)} positional); "
            f"write {app}(workspace=ws, ...)"
        )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
