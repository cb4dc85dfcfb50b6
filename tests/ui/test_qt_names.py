"""Our widgets never hide a Qt method under an attribute of the same name.

mypy found two: ExportDialog.result (an ExportResult where QDialog.result() returns the dialog's
code, so `dialog.result()` raised TypeError) and NotePanel.scroll (a QScrollArea over
QWidget.scroll(dx, dy)). This checks every class of nursestation/ui that derives from Qt."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import nursestation.ui as ui


def _shadowing(module_name: str, source: str) -> list[str]:
    """`module.Class.attr` for every `self.attr = ...` in a Qt-derived class of the module
    where attr is defined by a Qt base class."""
    mod = importlib.import_module(module_name)
    found = []
    for node in ast.parse(source).body:
        cls = getattr(mod, node.name, None) if isinstance(node, ast.ClassDef) else None
        if not isinstance(node, ast.ClassDef) or not inspect.isclass(cls):
            continue
        qt_bases = [b for b in cls.__mro__ if b.__module__.startswith("PySide6")]
        for sub in ast.walk(node):
            if isinstance(sub, ast.Assign):
                targets = sub.targets
            elif isinstance(sub, ast.AnnAssign):
                targets = [sub.target]
            else:
                continue
            for t in targets:
                if (
                    isinstance(t, ast.Attribute)
                    and isinstance(t.value, ast.Name)
                    and t.value.id == "self"
                    and any(t.attr in vars(b) for b in qt_bases)
                ):
                    found.append(f"{module_name}.{node.name}.{t.attr}")
    return found


def test_no_widget_attribute_hides_a_qt_method(qapp) -> None:  # type: ignore[no-untyped-def]
    found = []
    for info in pkgutil.iter_modules(ui.__path__):
        name = f"nursestation.ui.{info.name}"
        path = Path(ui.__path__[0]) / f"{info.name}.py"
        found += _shadowing(name, path.read_text(encoding="utf-8"))
    assert found == []


def test_the_check_sees_a_hidden_method(qapp, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "shadow_probe.py").write_text(
        "from PySide6.QtWidgets import QDialog, QScrollArea, QWidget\n"
        "class Bad(QDialog):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.result = None\n"
        "        self.scroll: QScrollArea = QScrollArea()\n"
        "        self.fine = 1\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    source = (tmp_path / "shadow_probe.py").read_text()
    assert _shadowing("shadow_probe", source) == [
        "shadow_probe.Bad.result",
        "shadow_probe.Bad.scroll",
    ]
