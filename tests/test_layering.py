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


# ---------------------------------------------------------------- first-party modules are imported, never probed

# `importlib.resources` reads package data (nursestation/resources.py); it imports no module.
ALLOWED_IMPORTLIB = {"importlib.resources"}
PROBE_EXCEPTIONS = {"ModuleNotFoundError", "ImportError"}
# Probes still there, each with who removes it. The test asserts this set exactly, so an entry
# must be deleted in the commit that removes its probe. None is left (issue 14).
PENDING_PROBES: set[str] = set()


def _probes(path: Path, rel: str) -> list[str]:
    """Every way `path` can import a module by computed name or survive a missing one."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "importlib" and a.name not in ALLOWED_IMPORTLIB:
                    found.append(f"{rel}: import {a.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] == "importlib":
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    if full not in ALLOWED_IMPORTLIB:
                        found.append(f"{rel}: from {node.module} import {a.name}")
        elif isinstance(node, ast.Call):
            f = node.func
            name = (
                f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            )
            if name in ("import_module", "__import__", "find_spec", "spec_from_file_location"):
                found.append(
                    f"{rel}: importlib.{name}" if name != "__import__" else f"{rel}: {name}"
                )
        elif isinstance(node, ast.ExceptHandler) and node.type is not None:
            kinds = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            for k in kinds:
                kname = (
                    k.id
                    if isinstance(k, ast.Name)
                    else k.attr
                    if isinstance(k, ast.Attribute)
                    else ""
                )
                if kname in PROBE_EXCEPTIONS:
                    found.append(f"{rel}: except {kname}")
    return found


def test_no_import_probes_in_first_party_code() -> None:
    found: set[str] = set()
    for path in sorted(PKG.rglob("*.py")):
        found.update(_probes(path, path.relative_to(PKG).as_posix()))
    assert found == PENDING_PROBES


def test_probe_checker_sees_each_kind(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import importlib\n"
        "import importlib.util\n"
        "from importlib import import_module\n"
        "from importlib import resources\n"  # data access: allowed
        "import importlib.resources\n"  # allowed
        "try:\n"
        "    mod = importlib.import_module('nursestation.x')\n"
        "except ModuleNotFoundError:\n"
        "    mod = None\n"
        "try:\n"
        "    __import__('y')\n"
        "except (ValueError, ImportError):\n"
        "    pass\n"
        "try:\n"
        "    pass\n"
        "except builtins.ImportError:\n"
        "    pass\n"
    )
    assert sorted(_probes(bad, "bad.py")) == [
        "bad.py: __import__",
        "bad.py: except ImportError",
        "bad.py: except ImportError",
        "bad.py: except ModuleNotFoundError",
        "bad.py: from importlib import import_module",
        "bad.py: import importlib",
        "bad.py: import importlib.util",
        "bad.py: importlib.import_module",
    ]
    good = tmp_path / "good.py"
    good.write_text("from importlib import resources\ntry:\n    pass\nexcept KeyError:\n    pass\n")
    assert _probes(good, "good.py") == []


# ---------------------------------------------------------------- the contracts cover every module


def _contracts() -> list[dict[str, object]]:
    import tomllib

    data = tomllib.loads((PKG.parent / "pyproject.toml").read_text(encoding="utf-8"))
    return list(data["tool"]["importlinter"]["contracts"])


def test_every_core_module_is_in_the_core_contract() -> None:
    """A new top-level module is clinical core unless it is the entry point: it must be listed
    in the "core is pure" contract, or it would escape it silently."""
    core = {
        f"nursestation.{p.stem}"
        for p in PKG.glob("*.py")
        if p.stem not in ("__init__", "__main__", "cli")
    }
    (contract,) = [
        c for c in _contracts() if str(c["name"]).startswith("The clinical core is pure")
    ]
    assert set(contract["source_modules"]) == core  # type: ignore[arg-type]


def test_the_layers_contract_names_every_package() -> None:
    """Every subpackage of nursestation sits in a layer (a new one must be placed)."""
    packages = {p.name for p in PKG.iterdir() if (p / "__init__.py").is_file()}
    (contract,) = [c for c in _contracts() if c["type"] == "layers"]
    named = {m.strip() for layer in contract["layers"] for m in str(layer).split("|")}  # type: ignore[attr-defined]
    assert packages <= named
    assert named - packages == {"cli"}


def test_context_imports_no_feature_module_at_run_time() -> None:
    """AppContext is the bottom of the app layer: the types it names from app.alarms and
    app.devices (the contracts' only type-only ignores) are never imported at run time."""
    import subprocess
    import sys

    code = (
        "import sys, nursestation.app.context;"
        "print(sorted(m for m in sys.modules if m.startswith('nursestation.app.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['nursestation.app.context']"


# ---------------------------------------------------------------- the context declares what it holds


def _declared_context_attributes() -> set[str]:
    """The attributes AppContext.__init__ assigns (`self.x = ...` / `self.x: T = ...`)."""
    tree = ast.parse((PKG / "app" / "context.py").read_text(encoding="utf-8"))
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "AppContext"]
    (init,) = [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"]
    names: set[str] = set()
    for node in ast.walk(init):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        for t in targets:
            if (
                isinstance(t, ast.Attribute)
                and isinstance(t.value, ast.Name)
                and t.value.id == "self"
            ):
                names.add(t.attr)
    return names


def test_context_holds_only_what_it_declares(ctx, people, infusing, clock) -> None:  # type: ignore[no-untyped-def]
    """Every path that used to glue state onto the context at run time (the alarm center, the
    monitor links, the readiness and reassessment caches), then: nothing beyond __init__'s."""
    from nursestation.app import alarms, board, devices, sessions

    nurse = people["nurse"]
    declared = _declared_context_attributes()
    assert {"alarm_center", "device_states", "device_health", "ready_cache"} <= declared
    assert set(vars(ctx)) == declared  # as built
    devices.device_state_changed(ctx, "1", "receiving", "", port="loop://", protocol="masimo-ascii")
    assert ctx.device_states == {"1": "receiving"} and "1" in ctx.device_health
    clock.advance(minutes=41)
    sessions.stop_infusion(ctx, nurse, infusing, "dose complete")
    board.board_cards(ctx, nurse)  # alarms, reassessments, readiness (is_ready_in), monitor line
    sessions.get_summary(ctx, nurse, infusing)
    clock.advance(minutes=1)
    alarms.tick_alarms(ctx)
    assert ctx.alarm_center is not None
    assert set(vars(ctx)) == declared
