"""What `check` looks at for encryption at rest (app/encryption.py), on a fake /sys/dev/block
tree standing for the real device under the test's folder: dm-crypt directly, dm-crypt below
LVM, a plain disk, and a device that cannot be inspected."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from nursestation.app import encryption


def _sys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layers: list[tuple[str, str]]) -> None:
    """Fake /sys/dev/block/<this folder's major:minor> as a stack of devices, top first: each
    (name, dm uuid or "" for a plain disk), each one's `slaves` holding the next."""
    st = os.stat(tmp_path)
    devices = tmp_path / "sys" / "devices"
    below: Path | None = None
    for name, uuid in reversed(layers):
        dev = devices / name
        dev.mkdir(parents=True)
        if uuid:
            (dev / "dm").mkdir()
            (dev / "dm" / "uuid").write_text(uuid + "\n")
            (dev / "dm" / "name").write_text(name.replace("dm-", "vol") + "\n")
        if below is not None:
            (dev / "slaves").mkdir()
            (dev / "slaves" / below.name).symlink_to(below)
        below = dev
    block = tmp_path / "sys" / "dev" / "block"
    block.mkdir(parents=True)
    assert below is not None
    (block / f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}").symlink_to(below)
    monkeypatch.setattr(encryption, "_SYS_BLOCK", block)
    monkeypatch.setattr(encryption, "_fs_type", lambda _path: ("/", "ext4"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /sys")
@pytest.mark.parametrize(
    ("layers", "state", "words"),
    [
        ([("dm-0", "CRYPT-LUKS2-0123-root")], encryption.ENCRYPTED, "dm-crypt device 'vol0'"),
        # LVM on LUKS: the logical volume is dm too, the crypt layer one step below.
        ([("dm-1", "LVM-abc"), ("dm-0", "CRYPT-LUKS2-0123-pv")], encryption.ENCRYPTED, "vol0"),
        # LVM on a plain partition: device-mapper, but no crypt layer anywhere.
        ([("dm-1", "LVM-abc"), ("sda2", "")], encryption.NOT_SEEN, "no dm-crypt layer"),
        ([("sda2", "")], encryption.NOT_SEEN, "block device sda2"),
    ],
)
def test_dm_crypt_is_found_at_or_below_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layers, state: str, words: str
) -> None:
    _sys(tmp_path, monkeypatch, layers)
    found = encryption.encryption_at_rest(tmp_path)
    assert found.state == state and words in found.detail, found


def test_a_device_without_a_block_entry_cannot_be_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "sys" / "dev" / "block"
    empty.mkdir(parents=True)
    monkeypatch.setattr(encryption, "_SYS_BLOCK", empty)
    monkeypatch.setattr(encryption, "_fs_type", lambda _path: ("/", "overlay"))
    found = encryption.encryption_at_rest(tmp_path)
    assert found.state == encryption.CANNOT_TELL and "overlay at /" in found.detail


def test_ecryptfs_counts_as_encrypted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encryption, "_fs_type", lambda _path: ("/home/ns", "ecryptfs"))
    assert encryption.encryption_at_rest(tmp_path).state == encryption.ENCRYPTED
