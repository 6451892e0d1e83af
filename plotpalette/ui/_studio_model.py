"""TemplateStudio's "preview with the model": the core paid preview, one client per studio.

The preview itself — a small budgeted job through the budget governor and the ledger,
named ``preview of <name@version>`` — is :func:`plotpalette.templates.preview` with
``call_model=True`` (:mod:`plotpalette.templates.preview_paid`). What is the studio's own:
the backend client is built once per studio and reused by every click, only *saved*
versions are billed (the core would save a draft as a new version; the studio asks the
user to save first), and a missing budget is reported against the **Budget $** box.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, TemplateError

if TYPE_CHECKING:  # pragma: no cover
    from ..templates import Template
    from ..templates.library import TemplateLibrary
    from ..templates.preview import PreviewResult

__all__ = ["ModelPreview"]


class ModelPreview:
    """Runs the studio's model previews in ``library``'s workspace with one cached backend."""

    def __init__(self, library: TemplateLibrary, backend: Any = None) -> None:
        self.library = library
        self._backend = backend
        self.backends_built = 0  # how many clients this studio made (tests: at most one)

    def backend(self) -> Any:
        """The backend every preview of this studio uses (made once, on first use)."""
        if self._backend is None:
            from ..llm import make_backend

            self._backend = make_backend(self.library.workspace.settings)
            self.backends_built += 1
        return self._backend

    @staticmethod
    def check(saved: Template | None, tpl: Template, budget_usd: float | None) -> None:
        """Refuse before anything runs: unsaved edits, or no budget in the box."""
        if saved is None or saved.content_hash != tpl.content_hash:
            raise TemplateError(
                "a preview with the model runs as a small billed job, and jobs run saved "
                "template versions; the editor has unsaved edits",
                fix="Press 'Save new version' first, or untick 'Run steps with the model' "
                "to preview without calling it.",
            )
        if budget_usd is None or not budget_usd > 0:
            raise ConfigError(
                "a preview with the model needs a budget",
                fix="Type the most this preview may spend in 'Budget $' (e.g. 0.05).",
            )

    def run(
        self, saved: Template, rows: list[Any], budget_usd: float, records: int
    ) -> PreviewResult:
        """Preview ``rows`` of the saved version with the model, billed to ``budget_usd``."""
        from ..templates.preview import preview

        ws = self.library.workspace
        return preview(
            saved,
            rows,
            call_model=True,
            budget_usd=budget_usd,
            backend=self.backend(),
            workspace=ws,
            library=self.library,
            settings=ws.settings,
            records=records,
        )
