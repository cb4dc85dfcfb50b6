"""Can this station see encryption at rest under its data directory? (`nursestation check`)

The clinic must provide full-disk encryption (README, "Encryption at rest"); the app cannot turn
it on. What is looked at, on Linux: the block device holding the data directory (its st_dev, in
/sys/dev/block) and the devices below it (device-mapper `slaves`); a device-mapper target whose
uuid starts with "CRYPT-" is dm-crypt (LUKS, plain dm-crypt, also below LVM). An eCryptfs mount
counts as encrypted too. Self-encrypting drives, hypervisor or SAN encryption, and other systems
(Windows BitLocker, macOS FileVault) are not visible here: "cannot tell" is then the answer.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

ENCRYPTED, NOT_SEEN, CANNOT_TELL = "encrypted", "not_seen", "cannot_tell"
_SYS_BLOCK = Path("/sys/dev/block")


@dataclass(frozen=True)
class AtRest:
    """What was found: ENCRYPTED, NOT_SEEN (a plain block device) or CANNOT_TELL, and why."""

    state: str
    detail: str


def _fs_type(path: Path) -> tuple[str, str] | None:
    """(mount point, filesystem type) of the mount holding `path`, from /proc/self/mountinfo."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    best: tuple[str, str] | None = None
    target = str(path)
    for line in lines:
        left, _, right = line.partition(" - ")
        parts, rparts = left.split(), right.split()
        if len(parts) < 5 or not rparts:
            continue
        mount = parts[4].replace("\\040", " ")
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and (best is None or len(mount) >= len(best[0])):
            best = (mount, rparts[0])
    return best


def _crypt_below(dev: Path, seen: set[str]) -> str | None:
    """The name of a dm-crypt device at or below `dev` (a /sys/dev/block entry), if any."""
    real = dev.resolve()
    if str(real) in seen:
        return None
    seen.add(str(real))
    try:
        uuid = (real / "dm" / "uuid").read_text().strip()
    except OSError:
        uuid = ""
    if uuid.startswith("CRYPT-"):
        try:
            return (real / "dm" / "name").read_text().strip() or real.name
        except OSError:
            return real.name
    slaves = real / "slaves"
    if slaves.is_dir():
        for child in sorted(slaves.iterdir()):
            found = _crypt_below(child, seen)
            if found:
                return found
    # A partition's dm layers sit on the partition itself, so nothing more to look at.
    return None


def encryption_at_rest(path: Path) -> AtRest:
    """Whether encryption at rest is visible under `path` (see the module doc)."""
    if not sys.platform.startswith("linux"):
        return AtRest(CANNOT_TELL, f"not looked at on {sys.platform} (BitLocker/FileVault "
                                   "status is not read): the clinic must confirm it")  # fmt: skip
    path = path if path.exists() else path.parent
    mount = _fs_type(path)
    if mount and mount[1] == "ecryptfs":
        return AtRest(ENCRYPTED, f"{path} is on an eCryptfs mount ({mount[0]})")
    st = os.stat(path)
    major, minor = os.major(st.st_dev), os.minor(st.st_dev)
    dev = _SYS_BLOCK / f"{major}:{minor}"
    where = f" ({mount[1]} at {mount[0]})" if mount else ""
    if not dev.exists():
        return AtRest(
            CANNOT_TELL,
            f"{path} is not on a block device this station can inspect{where}: a container, "
            "network or virtual filesystem; the host's encryption is not visible",
        )
    name = _crypt_below(dev, set())
    if name:
        return AtRest(ENCRYPTED, f"{path} is on dm-crypt device '{name}'{where}")
    return AtRest(
        NOT_SEEN,
        f"no dm-crypt layer under {path} (block device {dev.resolve().name}{where}); a "
        "self-encrypting drive or the hypervisor's encryption would not show here",
    )
