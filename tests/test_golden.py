"""Behaviour frozen (issue 14): every example scenario's signed-note text, CSV and FHIR export are
reproduced byte for byte from tests/golden/<scenario>/ (how they are made and what is masked:
tests/example_runs.py).

After an intended change: `UPDATE_GOLDEN=1 pytest tests/test_golden.py` rewrites the files (the
test then fails once more, naming them, so an update is never silent); read `git diff
tests/golden` and say in the commit which files changed and why.
"""

from __future__ import annotations

import os

import pytest
from example_runs import EXAMPLE_NAMES, GOLDEN_DIR, GOLDEN_FILES, ExampleRuns


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_golden_outputs_reproduced_byte_for_byte(name: str, example_runs: ExampleRuns) -> None:
    run = example_runs(name)
    assert run.rc == 0, [line for line in run.lines if "expectation" in line]
    got = example_runs.golden(name)
    assert sorted(got) == sorted(GOLDEN_FILES)
    folder = GOLDEN_DIR / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        folder.mkdir(parents=True, exist_ok=True)
        changed = []
        for file, text in got.items():
            path = folder / file
            if not path.exists() or path.read_bytes() != text.encode("utf-8"):
                path.write_bytes(text.encode("utf-8"))
                changed.append(file)
        assert not changed, f"golden files rewritten for {name}: {changed}"
    for file in GOLDEN_FILES:
        path = folder / file
        assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1 to create it"
        # bytes, not text: line endings and encoding are part of what is frozen
        assert got[file].encode("utf-8") == path.read_bytes(), f"{name}/{file} differs"


def test_every_example_has_golden_files() -> None:
    """A new example scenario needs its golden files; a removed one must take them along."""
    on_disk = sorted(p.name for p in GOLDEN_DIR.iterdir() if p.is_dir())
    assert on_disk == sorted(EXAMPLE_NAMES)


def test_masking_keeps_references_apart() -> None:
    """Distinct UUIDs stay distinct after masking, the same UUID maps to the same mark."""
    from example_runs import _mask_fhir

    a, b = "0f8fad5b-d9cb-469f-a165-70867728950e", "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    text = _mask_fhir([{"id": a, "entry": [{"resource": {"ref": a, "other": b}}]}])
    assert '"id": "uuid-1"' in text and '"ref": "uuid-1"' in text and '"other": "uuid-2"' in text
    assert a not in text and b not in text
