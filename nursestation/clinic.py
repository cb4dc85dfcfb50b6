"""Clinic settings: defaults shipped in resources/clinic/*.json, each number with its source,
overridable per clinic by a JSON file whose keys must exist in the defaults.

A defaults file is one *section* (the file name). Inside it, a dict with a "value" key is a
*setting* (optionally with "min", "max", "choices", "unit", "source", "note"); any other dict is a
group. An override file uses the same nesting with plain values (or {"value": …, "source": …} to
record the clinic's own source). Top-level override keys that are not section names address the
"general" section, so `{"min_observation_min": 30}` works as the scenario contract shows.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nursestation.resources import resource_path

SPEC_KEYS = {"value", "min", "max", "choices", "unit", "source", "note"}


class ConfigError(Exception):
    """Bad clinic configuration: names the file, the key and what is allowed."""

    def __init__(self, file: str, key: str, allowed: str, got: object = None) -> None:
        self.file = file
        self.key = key
        self.allowed = allowed
        got_text = "" if got is None else f" (got {got!r})"
        super().__init__(f"Clinic settings file {file}: key '{key}' {allowed}{got_text}.")


@dataclass(frozen=True)
class Setting:
    """One clinic setting with its allowed range and the source of its value."""

    path: str
    value: Any
    source: str | None = None
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    overridden_by: str | None = None

    def describe_allowed(self) -> str:
        """A human sentence for what values this setting accepts."""
        kind = _kind(self.value)
        if self.choices:
            return "must be one of " + ", ".join(repr(c) for c in self.choices)
        if kind in ("number", "integer") and (self.min is not None or self.max is not None):
            lo = "" if self.min is None else f"from {_fmt(self.min)} "
            hi = "" if self.max is None else f"to {_fmt(self.max)}"
            unit = f" {self.unit}" if self.unit else ""
            return f"must be {'an integer' if kind == 'integer' else 'a number'} {lo}{hi}{unit}".rstrip()
        return f"must be {_article(kind)}"


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _article(kind: str) -> str:
    return {"integer": "an integer", "list": "a list", "object": "an object"}.get(kind, f"a {kind}")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _is_spec(node: Any) -> bool:
    return isinstance(node, dict) and "value" in node


@dataclass
class ClinicSettings:
    """The merged clinic settings: values, their sources, and where overrides came from."""

    settings: dict[str, Setting] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def get(self, path: str) -> Any:
        """The value at a dotted path, e.g. `general.min_observation_min`."""
        try:
            return copy.deepcopy(self.settings[path].value)
        except KeyError:
            raise KeyError(f"no clinic setting '{path}'") from None

    def section(self, prefix: str) -> dict[str, Any]:
        """The values under a dotted prefix as a nested dict of plain values."""
        out: dict[str, Any] = {}
        dot = prefix + "."
        for path, setting in self.settings.items():
            if not path.startswith(dot):
                continue
            parts = path[len(dot) :].split(".")
            node = out
            for p in parts[:-1]:
                node = node.setdefault(p, {})
            node[parts[-1]] = copy.deepcopy(setting.value)
        if not out:
            raise KeyError(f"no clinic settings under '{prefix}'")
        return out

    def source(self, path: str) -> str | None:
        """Where the value at `path` comes from."""
        return self.settings[path].source

    def __iter__(self) -> Iterator[Setting]:
        return iter(self.settings.values())

    def with_overrides(self, overrides: Mapping[str, Any], origin: str) -> ClinicSettings:
        """A copy with `overrides` applied (validated exactly like an override file)."""
        merged = ClinicSettings(dict(self.settings), [*self.files, origin])
        _apply(merged, overrides, origin)
        return merged


def _flatten_defaults(
    section: str, node: Any, prefix: str, out: dict[str, Setting], file: str
) -> None:
    if _is_spec(node):
        unknown = set(node) - SPEC_KEYS
        if unknown:
            raise ConfigError(file, prefix, f"has unknown attribute(s) {sorted(unknown)}")
        choices = node.get("choices")
        out[prefix] = Setting(
            path=prefix,
            value=node["value"],
            source=node.get("source"),
            unit=node.get("unit"),
            min=node.get("min"),
            max=node.get("max"),
            choices=tuple(choices) if choices else None,
        )
        return
    if not isinstance(node, dict):
        raise ConfigError(file, prefix, "must be a group or a setting with a 'value'", node)
    for key, child in node.items():
        if key.startswith("_"):  # "_comment" and similar are documentation only
            continue
        _flatten_defaults(section, child, f"{prefix}.{key}", out, file)


def load_defaults(directory: Path | None = None) -> ClinicSettings:
    """Load every section file in resources/clinic (or `directory`)."""
    directory = directory or resource_path("clinic")
    settings: dict[str, Setting] = {}
    files: list[str] = []
    for path in sorted(directory.glob("*.json")):
        data = _read_json(path)
        _flatten_defaults(path.stem, data, path.stem, settings, str(path))
        files.append(str(path))
    return ClinicSettings(settings, files)


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), "(file)", f"cannot be read: {exc.strerror}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            str(path), f"(line {exc.lineno}, column {exc.colno})", f"is not valid JSON: {exc.msg}"
        ) from exc


def _sections(settings: ClinicSettings) -> set[str]:
    return {p.split(".", 1)[0] for p in settings.settings}


def _apply(settings: ClinicSettings, overrides: Mapping[str, Any], origin: str) -> None:
    if not isinstance(overrides, Mapping):
        raise ConfigError(origin, "(top level)", "must be a JSON object")
    sections = _sections(settings)
    for key, value in overrides.items():
        if key.startswith("_"):
            continue
        top = key if key.split(".", 1)[0] in sections else f"general.{key}"
        _apply_node(settings, top, value, origin)


def _children(settings: ClinicSettings, prefix: str) -> list[str]:
    dot = prefix + "."
    return sorted({p[len(dot) :].split(".", 1)[0] for p in settings.settings if p.startswith(dot)})


# Settings renamed for one name per fact (issue 14) -> their one name. A clinic's override file
# written with a former name keeps working until the next release.
RENAMED_SETTINGS: dict[str, str] = {"vitals.ranges.temp": "vitals.ranges.temp_c"}


def _current_path(path: str) -> str:
    for old, new in RENAMED_SETTINGS.items():
        if path == old or path.startswith(old + "."):
            return new + path[len(old) :]
    return path


def _apply_node(settings: ClinicSettings, path: str, value: Any, origin: str) -> None:
    path = _current_path(path)
    if path in settings.settings:
        _set_leaf(settings, path, value, origin)
        return
    children = _children(settings, path)
    if not children:
        parent, _, _ = path.rpartition(".")
        allowed = _children(settings, parent) if parent else sorted(_sections(settings))
        raise ConfigError(
            origin, path, "is not a known setting; allowed keys here: " + ", ".join(allowed)
        )
    if not isinstance(value, Mapping):
        raise ConfigError(
            origin, path, "is a group and must be an object with keys " + ", ".join(children), value
        )
    for k, v in value.items():
        if k.startswith("_"):
            continue
        _apply_node(settings, f"{path}.{k}", v, origin)


def _set_leaf(settings: ClinicSettings, path: str, value: Any, origin: str) -> None:
    current = settings.settings[path]
    source = f"clinic override ({origin})"
    if _is_spec(value):
        unknown = set(value) - {"value", "source", "note"}
        if unknown:
            raise ConfigError(
                origin, path, "may only carry 'value', 'source' and 'note'", sorted(unknown)
            )
        source = str(value.get("source") or source)
        value = value["value"]
    _check_value(current, value, origin)
    if isinstance(current.value, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    settings.settings[path] = Setting(
        path=path,
        value=value,
        source=source,
        unit=current.unit,
        min=current.min,
        max=current.max,
        choices=current.choices,
        overridden_by=origin,
    )


def _check_value(current: Setting, value: Any, origin: str) -> None:
    want = _kind(current.value)
    got = _kind(value)
    ok = want == got or (want == "number" and got == "integer")
    if not ok:
        raise ConfigError(origin, current.path, current.describe_allowed(), value)
    if current.choices and value not in current.choices:
        raise ConfigError(origin, current.path, current.describe_allowed(), value)
    if got in ("integer", "number") and (
        (current.min is not None and value < current.min)
        or (current.max is not None and value > current.max)
    ):
        raise ConfigError(origin, current.path, current.describe_allowed(), value)
    if got == "list" and current.value:
        elem = _kind(current.value[0])
        bad = [v for v in value if _kind(v) != elem]
        if bad or (elem == "text" and len(set(value)) != len(value)):
            raise ConfigError(
                origin, current.path, f"must be a list of distinct {elem} values", value
            )
        if current.min is not None and len(value) < current.min:
            raise ConfigError(
                origin, current.path, f"must list at least {_fmt(current.min)} item(s)", value
            )


def load_clinic_settings(override_file: Path | None = None) -> ClinicSettings:
    """Defaults plus the clinic's override file when it exists. Raises ConfigError on any problem."""
    settings = load_defaults()
    if override_file is not None and override_file.exists():
        data = _read_json(override_file)
        settings = settings.with_overrides(data, str(override_file))
    return settings
