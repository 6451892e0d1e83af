"""Keep every page of the guide free of CDN resources (checked by
scripts/check_book_offline.py in CI).

Jupyter Book always loads sphinx-thebe, which writes the address of thebe's JavaScript on
unpkg.com into every page (fetched only if a reader starts a live kernel, which this
book never offers). Drop thebe's scripts from the pages.
"""

from __future__ import annotations

from typing import Any


def _strip_thebe(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    kept = []
    for script in scripts:
        body = getattr(script, "attributes", {}).get("body", "") or ""
        name = str(getattr(script, "filename", script) or "")
        if "THEBE_JS_URL" in body or name.endswith(("sphinx-thebe.js", "thebe/lib/index.js")):
            continue
        kept.append(script)
    context["script_files"] = kept


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", _strip_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
