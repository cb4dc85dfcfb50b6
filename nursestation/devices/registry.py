"""Protocol name → decoder factory (`decoder_for`)."""

from __future__ import annotations

from collections.abc import Callable

from nursestation.clinic import ClinicSettings
from nursestation.devices.base import BaseDecoder
from nursestation.devices.hl7 import HL7Config, HL7Decoder
from nursestation.devices.masimo import MasimoDecoder
from nursestation.devices.nonin import NoninDF8Decoder, NoninPacketDecoder
from nursestation.devices.reading import PlausibleRanges

# The contract's protocols first; nonin-df2 is an extension.
PROTOCOLS: tuple[str, ...] = ("masimo-ascii", "nonin-df8", "nonin-df7", "hl7-mllp", "nonin-df2")


def _factories(
    ranges: PlausibleRanges | None, hl7: HL7Config | None
) -> dict[str, Callable[[], BaseDecoder]]:
    return {
        "masimo-ascii": lambda: MasimoDecoder(ranges),
        "nonin-df8": lambda: NoninDF8Decoder(ranges),
        "nonin-df7": lambda: NoninPacketDecoder(start_byte=False, ranges=ranges),
        "nonin-df2": lambda: NoninPacketDecoder(start_byte=True, ranges=ranges),
        "hl7-mllp": lambda: HL7Decoder(hl7, ranges),
    }


def decoder_for(protocol: str, settings: ClinicSettings | None = None) -> BaseDecoder:
    """A fresh decoder for `protocol`; clinic `settings` (or the shipped defaults) set its tables.

    Raises ValueError naming the known protocols when `protocol` is unknown.
    """
    ranges = PlausibleRanges.from_settings(settings) if settings is not None else None
    hl7 = HL7Config.from_settings(settings) if settings is not None else None
    factories = _factories(ranges, hl7)
    try:
        return factories[protocol]()
    except KeyError:
        raise ValueError(
            f"Unknown protocol '{protocol}': use one of {', '.join(PROTOCOLS)}."
        ) from None
