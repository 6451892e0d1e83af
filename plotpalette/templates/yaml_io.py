"""Safe YAML reading and writing for templates.

PyYAML's defaults are unsafe for untrusted files in three ways this module closes:
``yaml.load`` can construct Python objects (we only ever use the safe loader),
duplicate keys silently keep the last value (we report them), and alias expansion
("billion laughs") explodes when the data is serialised (we refuse anchors/aliases).
The size is checked *before* parsing, because parsing itself is slow on huge input.
Parsing also records the line of every key, so errors can say where to look.
"""

from __future__ import annotations

import os
import pathlib
import re
from typing import Any

import yaml

from ..errors import TemplateFormatError, TemplateSecurityError
from .limits import DEFAULT_LIMITS, Limits

__all__ = ["YamlLines", "dump_yaml", "format_path", "load_yaml", "read_template_file"]

Path = tuple[str | int, ...]


class _Problem(Exception):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class _StrictSafeLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and duplicate mapping keys."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Problem(
                "YAML aliases (*name) are not allowed in templates",
                event.start_mark.line + 1,
            )
        return super().compose_node(parent, index)

    def construct_yaml_int(self, node: Any) -> int:
        value = super().construct_yaml_int(node)
        _refuse_legacy_number(node, value)
        return value

    def construct_yaml_float(self, node: Any) -> float:
        value = super().construct_yaml_float(node)
        _refuse_legacy_number(node, value)
        return value

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:
                raise _Problem("a mapping key must be a plain value", line) from None
            if first is not None:
                raise _Problem(f"duplicate key {key!r} (first defined on line {first})", line)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


_StrictSafeLoader.add_constructor("tag:yaml.org,2002:int", _StrictSafeLoader.construct_yaml_int)
_StrictSafeLoader.add_constructor("tag:yaml.org,2002:float", _StrictSafeLoader.construct_yaml_float)
_LEGACY_NUMBER = re.compile(r"^[-+]?(0[0-9_]+|[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?)$")


def _refuse_legacy_number(node: Any, value: Any) -> None:
    """YAML 1.1 reads ``012`` as octal 10 and ``1:30`` as 90 (base 60): never what a
    template author meant, and silent. Plain ``0``, ``0x1F`` and ``0.5`` are fine."""
    text = str(node.value)
    if node.style is None and _LEGACY_NUMBER.match(text):
        raise _Problem(
            f"YAML reads {text} as {value} (a YAML 1.1 octal or base-60 number); write "
            f"{text.lstrip('+-0') or '0'} for the number, or quote it ('{text}') for text",
            node.start_mark.line + 1,
        )


def _line_map(node: Any, path: Path, keys: dict[Path, int], texts: dict[Path, int]) -> None:
    """Record the line of every key, and the first line of every text value."""
    if isinstance(node, yaml.ScalarNode):
        # A block scalar's text starts on the line after its ``|`` / ``>`` indicator.
        texts[path] = node.start_mark.line + (2 if node.style in ("|", ">") else 1)
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            keys[(*path, key)] = key_node.start_mark.line + 1
            _line_map(value_node, (*path, key), keys, texts)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            keys[(*path, i)] = item.start_mark.line + 1
            _line_map(item, (*path, i), keys, texts)


class YamlLines:
    """Where things are in the YAML text: key lines and text start lines."""

    def __init__(self, node: Any) -> None:
        self.keys: dict[Path, int] = {(): 1}
        self.texts: dict[Path, int] = {}
        _line_map(node, (), self.keys, self.texts)

    def key_line(self, path: Path) -> int | None:
        """Line of ``path`` or of its closest ancestor present in the file."""
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.keys:
                return self.keys[path[:cut]]
        return None

    def text_line(self, path: Path, line_in_text: int) -> int | None:
        """File line of line ``line_in_text`` (1-based) of the text value at ``path``."""
        start = self.texts.get(path)
        return None if start is None else start + line_in_text - 1


def load_yaml(
    text: str | bytes, *, source: str = "<string>", limits: Limits = DEFAULT_LIMITS
) -> tuple[Any, YamlLines]:
    """Parse one YAML document safely; return ``(data, YamlLines)``.

    Raises :class:`TemplateSecurityError` when the text is larger than
    ``limits.max_yaml_bytes`` and :class:`TemplateFormatError` (with the line) for
    malformed YAML, duplicate keys and aliases.
    """
    size = len(text.encode("utf-8") if isinstance(text, str) else text)
    if size > limits.max_yaml_bytes:
        raise TemplateSecurityError(
            f"{source}: template is {size:,} bytes, over the {limits.max_yaml_bytes:,}-byte limit",
            fix="Split long texts into fragments or shorten the template.",
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TemplateFormatError(
                f"{source}: not UTF-8 text (byte {exc.start})",
                fix="Save the template as UTF-8.",
            ) from None
    loader = _StrictSafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise TemplateFormatError(
                f"{source}: the template is empty",
                fix="A template needs at least `name` and `steps`.",
            )
        data = loader.construct_document(node)
    except _Problem as exc:
        raise TemplateFormatError(f"{source}, line {exc.line}: {exc.message}") from None
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(text, exc, source) from None
    except yaml.YAMLError as exc:
        raise TemplateFormatError(f"{source}: malformed YAML: {exc}") from None
    except RecursionError:
        raise TemplateSecurityError(f"{source}: YAML nested too deeply") from None
    finally:
        loader.dispose()
    return data, YamlLines(node)


def read_template_file(path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The bytes of a template file: a regular file only, read no further than one byte
    past the size limit (so :func:`load_yaml` reports the limit, never a hang)."""
    from .._files import open_regular
    from ..errors import TemplateNotFoundError

    with open_regular(
        pathlib.Path(path), TemplateNotFoundError, fix="Point at a template YAML file."
    ) as fh:
        return fh.read(limits.max_yaml_bytes + 1)


def _yaml_error(text: str, exc: yaml.MarkedYAMLError, source: str) -> TemplateFormatError:
    """Name the line the user must edit, not where the parser gave up.

    An unclosed quote makes PyYAML read on until the next quote, often many lines later,
    and report the error there; the line to fix is where the quoted text started.
    """
    mark = exc.problem_mark or exc.context_mark
    what = exc.problem or exc.context or "invalid YAML"
    fix = "Check indentation and quoting there; quote text containing ': ' or '#'."
    if exc.context and "quoted scalar" in exc.context and exc.context_mark is not None:
        start = exc.context_mark
        return TemplateFormatError(
            f"{source}, line {start.line + 1}, column {start.column + 1}: malformed YAML: "
            f"a quoted text starts here and is never closed ({what})",
            fix="Add the closing quote on that line.",
        )
    if mark is None:
        return TemplateFormatError(f"{source}: malformed YAML: {what}", fix=fix)
    opened = _runaway_quote(text, mark.line)
    if opened is not None:
        return TemplateFormatError(
            f"{source}, line {opened[0] + 1}, column {opened[1] + 1}: malformed YAML: the "
            f"quoted text starting here runs on to line {mark.line + 1}, where the parser "
            f"stopped ({what}); a closing quote is probably missing on line {opened[0] + 1}",
            fix="Close the quote on that line (or use a `|` block for multi-line text).",
        )
    return TemplateFormatError(
        f"{source}, line {mark.line + 1}, column {mark.column + 1}: malformed YAML: {what}",
        fix=fix,
    )


def _runaway_quote(text: str, error_line: int) -> tuple[int, int] | None:
    """(line, column) where a quoted scalar that spans lines and ends near the error
    starts, if the tokens before the error contain one."""
    found = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.line > error_line:
                break
            if (
                isinstance(token, yaml.ScalarToken)
                and not token.plain
                and token.style in ('"', "'")
                and token.end_mark.line > token.start_mark.line
                and token.end_mark.line >= error_line - 1
            ):
                found = (token.start_mark.line, token.start_mark.column)
    except yaml.YAMLError:
        pass  # scanning stops at the error; what was found before it stands
    return found


def format_path(path: Path) -> str:
    """``("steps", 1, "prompt")`` -> ``steps[1].prompt``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


class _BlockDumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_representer)


def dump_yaml(data: Any) -> str:
    """YAML for humans: key order kept, multi-line text as ``|`` blocks."""
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100)
