"""No class or function in dashboard/ is longer than 300 lines (issue 22: the Compare tab by role)."""

from __future__ import annotations

import ast
from pathlib import Path

LIMIT = 300
DASHBOARD = Path(__file__).resolve().parent.parent / "dashboard"


def long_definitions(folder: Path = DASHBOARD, limit: int = LIMIT) -> list[str]:
    """``file:line name (n lines)`` of every class or function (methods and nested ones too) over ``limit``."""
    out = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                n = (node.end_lineno or node.lineno) - start + 1
                if n > limit:
                    out.append(f"{path.relative_to(folder.parent)}:{node.lineno} {node.name} ({n} lines)")
    return out


def test_no_class_or_function_in_dashboard_over_300_lines():
    assert long_definitions() == []


def test_the_check_finds_a_long_one(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    (tmp_path / "big.py").write_text(f"class Big:\n{body}\n\ndef small():\n    return 1\n")
    assert long_definitions(tmp_path) == [f"{tmp_path.name}/big.py:1 Big ({LIMIT + 1} lines)"]
