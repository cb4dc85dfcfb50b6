"""The monitor protocols this station speaks, registered in ONE place (`REGISTERED`): each entry
is a protocol module's self-description (devices/protocol.py `ProtocolSpec`: key, label, decoder,
simulator frames, tick, default silence time). The capture worker, the Monitors dialog, the
simulator and the scenario runner read them from here; nobody keeps a table of protocols of
their own."""

from __future__ import annotations

from nursestation.clinic import ClinicSettings
from nursestation.devices import hl7, masimo, nonin
from nursestation.devices.base import BaseDecoder
from nursestation.devices.protocol import ProtocolSpec

# The one registration list. The contract's protocols first; nonin-df2 is an extension.
REGISTERED: tuple[ProtocolSpec, ...] = (
    *masimo.SPECS,
    *(s for s in nonin.SPECS if s.contract),
    *hl7.SPECS,
    *(s for s in nonin.SPECS if not s.contract),
)

# Readers look protocols up here at the time they need them (not in copies of their own), so
# what is registered is what every screen and tool offers.
SPECS: dict[str, ProtocolSpec] = {s.key: s for s in REGISTERED}
PROTOCOLS: tuple[str, ...] = tuple(SPECS)  # the shipped keys, in order (tests, docs)


def protocols() -> tuple[str, ...]:
    """The registered protocol keys, in registration order."""
    return tuple(SPECS)


def protocol_spec(protocol: str) -> ProtocolSpec:
    """The registered description of `protocol`; ValueError naming the known ones otherwise."""
    try:
        return SPECS[protocol]
    except KeyError:
        raise ValueError(
            f"Unknown protocol '{protocol}': use one of {', '.join(SPECS)}."
        ) from None


def decoder_for(protocol: str, settings: ClinicSettings | None = None) -> BaseDecoder:
    """A fresh decoder for `protocol`; clinic `settings` (or the shipped defaults) set its tables.

    Raises ValueError naming the known protocols when `protocol` is unknown.
    """
    return protocol_spec(protocol).decoder(settings)
