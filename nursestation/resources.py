"""Locate files in resources/ both from a source checkout and from an installed wheel."""

from __future__ import annotations

from importlib import resources as importlib_resources
from pathlib import Path


def resources_root() -> Path:
    """The resources folder: packaged copy first, then the repository's top-level folder."""
    packaged = Path(str(importlib_resources.files("nursestation"))) / "resources"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(*parts: str) -> Path:
    """Path of a file or folder under resources/."""
    return resources_root().joinpath(*parts)
