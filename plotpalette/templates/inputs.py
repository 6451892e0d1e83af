"""Which seed fields a template reads, inferred from its Jinja syntax trees.

``{{ author.name }}`` needs a field ``author.name`` (and a mapping ``author``);
``{% for c in characters %}{{ c.name }}{% endfor %}`` needs a list ``characters`` whose
items have ``name``. A field is optional when every use is guarded: inside
``{% if field %}`` / ``{% if field is defined %}``, the true branch of ``a if field else b``
or behind ``| default(...)``. Declared ``inputs:`` in the template override what is
inferred. The seeds module validates rows against the resulting :class:`InputSchema`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jinja2 import nodes

from ..errors import TemplateError
from .input_schema import InputField, InputSchema, lookup_path
from .render_context import RESERVED_NAMES
from .syntax import parse_expression, parse_text, strip_expression

if TYPE_CHECKING:
    from .library import TemplateLibrary
    from .model import Template

__all__ = ["InputField", "InputSchema", "infer_inputs", "lookup_path"]

# Names every template sees that do not come from the seed row (``seed`` itself is
# handled as the row's root below).
_BUILTIN_NAMES = (RESERVED_NAMES - {"seed"}) | {"true", "false", "none", "True", "False", "None"}
_LIST_FILTERS = frozenset(
    {
        "join",
        "first",
        "last",
        "map",
        "select",
        "reject",
        "selectattr",
        "rejectattr",
        "sort",
        "unique",
        "batch",
        "slice",
        "sum",
        "random",
        "shuffle",
        "sample",
        "list",
        "bullet_list",
        "numbered_list",
        "join_natural",
        "min",
        "max",
        "groupby",
        "reverse",
    }
)
_MAPPING_FILTERS = frozenset({"dictsort", "items", "xmlattr"})
_ANY_FILTERS = frozenset({"length", "count", "tojson", "string", "pprint", "default", "d"})
_GUARD_TESTS = frozenset({"defined", "undefined", "none"})


# -- the collector ------------------------------------------------------------------------
@dataclass
class _Use:
    kinds: set[str] = field(default_factory=set)
    required: bool = False
    line: int = 0
    items: _Collector | None = None


class _Collector:
    def __init__(self) -> None:
        self.uses: dict[str, _Use] = {}

    def record(self, path: str, kind: str, required: bool, line: int) -> _Use:
        use = self.uses.setdefault(path, _Use(line=line))
        use.kinds.add(kind)
        use.required = use.required or required
        use.line = min(use.line, line) if use.line else line
        return use

    def schema(self) -> tuple[tuple[InputField, ...], dict[str, int]]:
        uses = dict(self.uses)
        for path in list(uses):  # parents of dotted paths are mappings
            parts = path.split(".")
            for cut in range(1, len(parts)):
                parent = ".".join(parts[:cut])
                use = uses.setdefault(parent, _Use(line=uses[path].line))
                use.kinds.add("mapping")
                use.required = use.required or uses[path].required
        out = []
        for path in sorted(uses):
            use = uses[path]
            kinds = use.kinds - {"any"}
            kind = kinds.pop() if len(kinds) == 1 else "any"
            if any(p.startswith(path + ".") for p in uses):
                kind = "mapping" if kind in ("mapping", "any", "scalar") else "any"
            items = use.items.schema()[0] if use.items else ()
            out.append(InputField(path, kind, use.required, items))
        return tuple(out), {p: u.line for p, u in uses.items()}


def _names(target: nodes.Node) -> list[nodes.Name]:
    """Names bound by an assignment target (the target itself or a tuple of names)."""
    found = [target] if isinstance(target, nodes.Name) else []
    return found + list(target.find_all(nodes.Name))


class _Visitor:
    """Walks syntax trees; ``scope`` maps local names to a loop-item collector or None."""

    def __init__(self, library: TemplateLibrary | None, max_depth: int = 8) -> None:
        self.library = library
        self.max_depth = max_depth
        self.included: set[str] = set()

    def _chain(self, node: nodes.Node) -> tuple[nodes.Node, list[str]]:
        parts: list[str] = []
        while True:
            if isinstance(node, nodes.Getattr):
                parts.append(node.attr)
                node = node.node
            elif (
                isinstance(node, nodes.Getitem)
                and isinstance(node.arg, nodes.Const)
                and isinstance(node.arg.value, str)
            ):
                parts.append(node.arg.value)
                node = node.node
            else:
                return node, parts[::-1]

    def _path(self, node: nodes.Node, scope: dict[str, Any]) -> tuple[Any, str] | None:
        """(collector, path) for a seed path expression, else None."""
        base, parts = self._chain(node)
        if not isinstance(base, nodes.Name) or base.ctx != "load":
            return None
        if base.name in scope:
            target = scope[base.name]
            return (target, ".".join(parts)) if target is not None and parts else None
        if base.name in _BUILTIN_NAMES:
            return None
        if base.name == "seed":
            return (scope["__root__"], ".".join(parts)) if parts else None
        return scope["__root__"], ".".join([base.name, *parts])

    def _guards(self, test: nodes.Node, scope: dict[str, Any]) -> set[str]:
        if isinstance(test, nodes.Not):
            return self._guards(test.node, scope)
        if isinstance(test, (nodes.And, nodes.Or)):
            return self._guards(test.left, scope) | self._guards(test.right, scope)
        if isinstance(test, nodes.Test) and test.name in _GUARD_TESTS:
            test = test.node
        found = self._path(test, scope)
        return {found[1]} if found else set()

    def expr(
        self, node: nodes.Node, scope: dict[str, Any], guarded: frozenset[str], kind: str = "scalar"
    ) -> None:
        found = self._path(node, scope) if isinstance(node, nodes.Expr) else None
        if found is not None:
            collector, path = found
            optional = any(path == g or path.startswith(g + ".") for g in guarded)
            collector.record(path, kind, not optional, node.lineno)
            for sub in node.find_all(nodes.Getitem):
                if not isinstance(sub.arg, nodes.Const):
                    self.expr(sub.arg, scope, guarded)
            return
        if (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, int)
        ):
            self.expr(node.node, scope, guarded, "list")  # items[0]
            return
        if isinstance(node, nodes.Filter) and node.node is not None:
            if node.name in _LIST_FILTERS:
                inner = "list"
            elif node.name in _MAPPING_FILTERS:
                inner = "mapping"
            else:
                inner = "any" if node.name in _ANY_FILTERS else "scalar"
            extra = self._guards(node.node, scope) if node.name in ("default", "d") else set()
            self.expr(node.node, scope, guarded | extra, inner)
            for arg in [*node.args, *(k.value for k in node.kwargs)]:
                self.expr(arg, scope, guarded)
            return
        if isinstance(node, nodes.Test):
            extra = self._guards(node, scope) if node.name in _GUARD_TESTS else set()
            self.expr(node.node, scope, guarded | extra, "any")
            for arg in node.args:
                self.expr(arg, scope, guarded)
            return
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            method = node.node.attr
            kind = "mapping" if method in ("items", "keys", "values", "get") else "scalar"
            self.expr(node.node.node, scope, guarded, kind)
            for arg in [*node.args, *(k.value for k in node.kwargs)]:
                self.expr(arg, scope, guarded)
            return
        if isinstance(node, nodes.CondExpr):
            extra = self._guards(node.test, scope)
            self.expr(node.test, scope, guarded | extra, "any")
            self.expr(node.expr1, scope, guarded | extra)
            if node.expr2 is not None:
                self.expr(node.expr2, scope, guarded)
            return
        if isinstance(node, (nodes.And, nodes.Or, nodes.Not)):
            extra = self._guards(node, scope)
            for child in node.iter_child_nodes():
                self.expr(child, scope, guarded | extra, "any")
            return
        for child in node.iter_child_nodes():
            self.expr(child, scope, guarded, "any" if isinstance(node, nodes.Compare) else kind)

    def stmts(
        self, body: list[nodes.Node], scope: dict[str, Any], guarded: frozenset[str], depth: int = 0
    ) -> None:
        for node in body:
            self.stmt(node, scope, guarded, depth)

    def stmt(
        self, node: nodes.Node, scope: dict[str, Any], guarded: frozenset[str], depth: int
    ) -> None:
        if isinstance(node, nodes.For):
            self.expr(node.iter, scope, guarded, "list")
            inner = dict(scope)
            found = self._path(node.iter, scope)
            items = None
            if found is not None and isinstance(node.target, nodes.Name):
                use = found[0].uses[found[1]]
                items = use.items = use.items or _Collector()
            for name in _names(node.target):
                inner[name.name] = None
            if isinstance(node.target, nodes.Name):
                inner[node.target.name] = items
            if node.test is not None:
                self.expr(node.test, inner, guarded)
            self.stmts(node.body, inner, guarded, depth)
            self.stmts(node.else_, scope, guarded, depth)
        elif isinstance(node, nodes.If):
            extra = self._guards(node.test, scope)
            self.expr(node.test, scope, guarded | extra, "any")
            self.stmts(node.body, scope, guarded | extra, depth)
            for elif_ in node.elif_:
                self.stmt(elif_, scope, guarded, depth)
            self.stmts(node.else_, scope, guarded, depth)
        elif isinstance(node, (nodes.Macro, nodes.CallBlock)):
            inner = dict(scope)
            for arg in node.args:
                inner[arg.name] = None
            if isinstance(node, nodes.Macro):
                scope[node.name] = None
                inner[node.name] = None
            else:
                self.expr(node.call, scope, guarded)
            self.stmts(node.body, inner, guarded, depth)
        elif isinstance(node, (nodes.Assign, nodes.AssignBlock)):
            if isinstance(node, nodes.Assign):
                self.expr(node.node, scope, guarded)
            else:
                self.stmts(node.body, scope, guarded, depth)
            for name in _names(node.target):
                scope[name.name] = None
        elif isinstance(node, nodes.With):
            inner = dict(scope)
            for target, value in zip(node.targets, node.values, strict=False):
                self.expr(value, scope, guarded)
                for name in _names(target):
                    inner[name.name] = None
            self.stmts(node.body, inner, guarded, depth)
        elif isinstance(node, nodes.Include):
            self._include(node, scope, guarded, depth)
        elif isinstance(node, nodes.Import):
            scope[node.target] = None
        elif isinstance(node, nodes.FromImport):
            for item in node.names:
                scope[item if isinstance(item, str) else item[1]] = None
        elif isinstance(node, nodes.Output):
            for child in node.nodes:
                self.expr(child, scope, guarded)
        elif isinstance(node, nodes.Expr):
            self.expr(node, scope, guarded)
        else:
            for sub in node.iter_child_nodes():
                self.stmt(sub, scope, guarded, depth)

    def _include(
        self, node: nodes.Include, scope: dict[str, Any], guarded: frozenset[str], depth: int
    ) -> None:
        target = node.template
        if not (isinstance(target, nodes.Const) and isinstance(target.value, str)):
            return
        if depth >= self.max_depth or target.value in self.included:
            return
        from .fragments import resolve_fragment

        try:
            fragment = resolve_fragment(target.value, self.library)
        except TemplateError:
            return  # the renderer reports missing includes with their step and line
        self.included.add(target.value)
        tree = parse_text(fragment.fragment or "", where=f"fragment {fragment.ref}")
        self.stmts(
            tree.body,
            scope if node.with_context else {"__root__": _Collector()},
            guarded,
            depth + 1,
        )
        self.included.discard(target.value)


def infer_texts(
    texts: list[tuple[str, str, bool]], library: TemplateLibrary | None = None
) -> InputSchema:
    """Schema for ``(text, where, is_expression)`` items (used per step by the renderer)."""
    root = _Collector()
    visitor = _Visitor(library)
    for text, where, is_expression in texts:
        scope: dict[str, Any] = {"__root__": root}
        if is_expression:
            tree = parse_expression(strip_expression(text), where=where)
            visitor.expr(tree, scope, frozenset(), "any")
        else:
            body = parse_text(text, where=where).body
            for macro in nodes.Template(body).find_all(nodes.Macro):
                scope[macro.name] = None  # macros may call macros defined further down
            visitor.stmts(body, scope, frozenset())
    fields, lines = root.schema()
    return InputSchema(fields, lines)


def infer_inputs(tpl: Template, library: TemplateLibrary | None = None) -> InputSchema:
    """The seed fields ``tpl`` reads (all steps and the output mapping), with declared
    ``inputs`` overriding or adding fields."""
    texts: list[tuple[str, str, bool]] = []
    for step in tpl.steps:
        if step.system:
            texts.append((step.system, f"step {step.id!r} system", False))
        texts.append((step.prompt, f"step {step.id!r} prompt", False))
        if step.when:
            texts.append((step.when, f"step {step.id!r} when", True))
    for column, text in tpl.output.items():
        texts.append((text, f"output {column!r}", False))
    if tpl.fragment:
        texts.append((tpl.fragment, "fragment", False))
    schema = infer_texts(texts, library)
    if not tpl.inputs:
        return schema
    merged = {f.path: f for f in schema.fields}
    for path, spec in tpl.inputs.items():
        old = merged.get(path)
        merged[path] = InputField(
            path, spec.kind, spec.required, old.item_fields if old else (), spec.description
        )
    return InputSchema(tuple(merged[p] for p in sorted(merged)), schema.lines)
