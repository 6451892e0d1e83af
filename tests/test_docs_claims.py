"""Sentences in the README, CONTRIBUTING and the book that the code can check.

- "no AWS account is touched: Bedrock by our emulator, other AWS services by moto":
  every AWS service the package creates a boto3 client for is bedrock-runtime (the
  emulator) or is exercised against moto by some test; a page that says a service is
  emulated with moto must be backed by a moto test for it.
- "tests never assert timings": no assert in tests/ compares an elapsed time.
- "ECS Fargate Spot": until infra/ defines a task or job definition, every paragraph
  that mentions Fargate says it is not built (or speaks in the conditional).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
DOCS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "book").glob("*.md"))]
EMULATED_BY_US = {"bedrock-runtime"}
SERVICE_WORDS = {"s3": "S3", "dynamodb": "DynamoDB", "batch": "AWS Batch", "ecs": "ECS"}


def _python(folder: str) -> list[tuple[Path, str]]:
    return [(p, p.read_text(encoding="utf-8")) for p in sorted((ROOT / folder).rglob("*.py"))]


def _clients() -> set[str]:
    """Service names passed to ``client(...)``/``resource(...)`` in the package."""
    found = set()
    for path, text in _python("plotpalette"):
        if "testing" in path.parts:
            continue  # the emulator's own examples
        for node in ast.walk(ast.parse(text)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("client", "resource")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.add(node.args[0].value)
            for kw in getattr(node, "keywords", []) or []:
                if kw.arg == "service_name" and isinstance(kw.value, ast.Constant):
                    found.add(str(kw.value.value))
    return found


def _moto_tested() -> set[str]:
    """Services some test drives through moto (mock_aws or moto's threaded server)."""
    tested = set()
    for _, text in _python("tests"):
        # mock_aws, moto's threaded server, or the fixtures built on it (tests/aws_fixtures.py
        # `aws_env`, tests/infra_support.py `infra_aws`)
        if not re.search(r"mock_aws|ThreadedMotoServer|MotoServer|\baws_env\b|\binfra_aws\b", text):
            continue
        tested |= set(re.findall(r"""(?:client|infra_aws)\(\s*["']([a-z0-9-]+)["']""", text))
    return tested


def test_every_aws_client_the_package_makes_is_emulated_in_tests():
    unemulated = _clients() - EMULATED_BY_US - _moto_tested()
    assert unemulated == set(), f"AWS services with no moto test: {sorted(unemulated)}"


def test_pages_claim_moto_only_for_services_tested_with_moto():
    tested = _moto_tested()
    for page in DOCS:
        for paragraph in page.read_text(encoding="utf-8").split("\n\n"):
            if "moto" not in paragraph or "emulat" not in paragraph:
                continue
            for service, word in SERVICE_WORDS.items():
                if re.search(rf"\b{re.escape(word)}\b", paragraph) and service not in tested:
                    assert "not" in paragraph or "will" in paragraph, (
                        f"{page.name} says {word} is emulated with moto, but no test "
                        f"uses moto for {service}:\n{paragraph}"
                    )


_CLOCKS = {"perf_counter", "monotonic", "time", "process_time"}
_ELAPSED_NAMES = {"elapsed", "waited", "took", "duration", "seconds_taken"}


def _is_clock(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, (ast.Attribute, ast.Name))
        and getattr(node.func, "attr", getattr(node.func, "id", "")) in _CLOCKS
    )


def _times_something(test: ast.AST) -> bool:
    for node in ast.walk(test):
        if (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Sub)
            and any(_is_clock(n) for side in (node.left, node.right) for n in ast.walk(side))
        ):
            return True
        if isinstance(node, ast.Name) and node.id in _ELAPSED_NAMES:
            return True
    return False


def test_tests_never_assert_timings():
    offenders = []
    for path, text in _python("tests"):
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Assert) and _times_something(node.test):
                offenders.append(f"{path.name}:{node.lineno}: {ast.unparse(node.test)}")
    assert offenders == [], "timings belong in benchmarks/:\n" + "\n".join(offenders)


def test_fargate_is_not_claimed_before_infra_defines_it():
    infra = " ".join(p.read_text(encoding="utf-8") for p in (ROOT / "infra").rglob("*.y*ml"))
    if "AWS::ECS::TaskDefinition" in infra or "AWS::Batch::JobDefinition" in infra:
        return  # the stack exists: pages may describe it
    hedges = ("not built", "not yet", "Not yet", "would", "designed for")
    for page in DOCS:
        for paragraph in page.read_text(encoding="utf-8").split("\n\n"):
            if "Fargate" in paragraph and "```" not in paragraph:
                assert any(h in paragraph for h in hedges), (
                    f"{page.name} presents Fargate as built, but infra/ defines no task or "
                    f"job definition:\n{paragraph}"
                )
