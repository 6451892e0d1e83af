"""The AWS architecture diagram, drawn from ``infra/plotpalette.yaml`` itself.

:func:`stack_dot` reads the template and returns Graphviz DOT: one box per resource,
grouped by service, and an arrow wherever one resource names another (``Ref``,
``Fn::GetAtt``, ``${…}`` in ``Fn::Sub``). The book renders it with ``dot`` at build
time, so the picture cannot drift from the template.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

__all__ = ["load_template", "stack_dot", "stack_edges"]

GROUPS = {
    "S3": "Storage",
    "DynamoDB": "Storage",
    "Backup": "Backup",
    "KMS": "Encryption",
    "EC2": "Network",
    "IAM": "IAM",
    "Batch": "AWS Batch (Fargate Spot)",
    "Logs": "Logs and job events",
    "Events": "Logs and job events",
    "SNS": "Notifications",
    "CloudWatch": "Monitoring",
    "Budgets": "Monitoring",
}
COLOURS = {
    "Storage": "#fff4e0",
    "Backup": "#fff4e0",
    "Encryption": "#eeeeee",
    "Network": "#eeeeee",
    "IAM": "#fde8e8",
    "AWS Batch (Fargate Spot)": "#e8f0fd",
    "Logs and job events": "#f4f1fa",
    "Notifications": "#e8fdf0",
    "Monitoring": "#e8fdf0",
}


class _Loader(yaml.SafeLoader):
    """Reads CloudFormation's short tags (``!Ref``, ``!Sub``…) as their long forms."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - YAML has no other node kinds
        raise TypeError(f"unexpected YAML node {node!r}")
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    """A CloudFormation YAML template as plain data (intrinsics in long form)."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)


def _refs(value: Any, names: set[str]) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str) and inner in names:
                found.add(inner)
            elif key == "Fn::GetAtt" and isinstance(inner, list) and inner[0] in names:
                found.add(inner[0])
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                for ref in re.findall(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z]+)?\}", str(text)):
                    if ref in names:
                        found.add(ref)
                if isinstance(inner, list):
                    found |= _refs(inner[1:], names)
            else:
                found |= _refs(inner, names)
    elif isinstance(value, list):
        for inner in value:
            found |= _refs(inner, names)
    return found


def stack_edges(template: dict[str, Any]) -> set[tuple[str, str]]:
    """(resource, resource it names) pairs."""
    resources = template["Resources"]
    names = set(resources)
    return {
        (name, ref)
        for name, res in resources.items()
        for ref in _refs(res.get("Properties", {}), names)
        if ref != name
    }


def stack_dot(template: dict[str, Any], *, skip: tuple[str, ...] = ("AWS::KMS::Alias",)) -> str:
    """Graphviz DOT for the template's resources and their references."""
    resources = {k: v for k, v in template["Resources"].items() if v["Type"] not in skip}
    by_group: dict[str, list[str]] = {}
    for name, res in resources.items():
        service = res["Type"].split("::")[1]
        by_group.setdefault(GROUPS.get(service, service), []).append(name)
    lines = [
        "digraph stack {",
        "  rankdir=LR; compound=true; newrank=true;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
        '  edge [color="#888888", arrowsize=0.6];',
    ]
    for i, (group, names) in enumerate(sorted(by_group.items())):
        colour = COLOURS.get(group, "#ffffff")
        lines.append(f'  subgraph cluster_{i} {{ label="{group}"; fontname="Helvetica";')
        lines.append('    style="rounded"; color="#bbbbbb";')
        for name in sorted(names):
            rtype = resources[name]["Type"].replace("AWS::", "")
            cond = resources[name].get("Condition")
            extra = f"\\n(if {cond})" if cond else ""
            lines.append(f'    "{name}" [label="{name}\\n{rtype}{extra}", fillcolor="{colour}"];')
        lines.append("  }")
    for src, dst in sorted(stack_edges({"Resources": resources})):
        lines.append(f'  "{src}" -> "{dst}";')
    lines.append("}")
    return "\n".join(lines) + "\n"
