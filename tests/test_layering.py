"""Nothing outside nursestation/ui/ may import Qt or pyqtgraph (DESIGN.md layers)."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "nursestation"
FORBIDDEN = ("PySide6", "pyqtgraph", "nursestation.ui")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_only_ui_imports_qt() -> None:
    offenders = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG)
        if rel.parts[0] == "ui":
            continue
        for name in _imports(path):
            if name.split(".")[0] in ("PySide6", "pyqtgraph"):
                offenders.append(f"{rel}: {name}")
            # cli.py is the composition root: it may start the GUI, nothing else below may.
            if name.startswith("nursestation.ui") and rel.name != "cli.py":
                offenders.append(f"{rel}: {name}")
    assert offenders == []


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from PySide6.QtCore import QObject\nimport pyqtgraph as pg\n")
    assert _imports(bad) == ["PySide6.QtCore", "pyqtgraph"]


def test_importing_the_core_does_not_load_qt() -> None:
    import subprocess
    import sys

    code = (
        "import sys, nursestation.app.context, nursestation.clinic, nursestation.db.models;"
        "print(any(m.startswith(('PySide6','pyqtgraph')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
