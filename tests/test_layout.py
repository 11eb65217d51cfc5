"""The layout's one rule (docs/design.md, Layout): each floor imports only what is below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# what each folder may import from the project's own packages (the standard library and PyPI are free)
ALLOWED = {
    "balkanwatch": {"balkanwatch"},
    "connectors": {"balkanwatch", "connectors"},
    "warehouse": {"balkanwatch", "connectors", "warehouse"},
    "flows": {"balkanwatch", "connectors", "warehouse", "flows"},
    "deployments": {"balkanwatch", "connectors", "warehouse", "flows", "deployments"},
}
OURS = {"balkanwatch", "connectors", "warehouse", "flows", "deployments", "app", "bench", "tests"}


def imported(path: Path) -> set[str]:
    """Top-level names of every module the file imports, at any depth of the file (function bodies too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_each_floor_imports_only_what_is_below_it(folder: str) -> None:
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, folder
    wrong = {f"{p.relative_to(ROOT)} imports {name}" for p in files for name in imported(p) & OURS
             if name not in ALLOWED[folder]}
    assert not wrong, sorted(wrong)


def test_the_walk_sees_imports_inside_functions(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from warehouse import Warehouse\n    import flows.ingest\n")
    assert imported(probe) == {"warehouse", "flows"}
