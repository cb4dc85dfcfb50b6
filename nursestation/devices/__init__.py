"""Bedside-monitor capture: protocol decoders, simulator, capture worker, replay. Qt-free."""

from nursestation.devices.reading import DecodeStats, PlausibleRanges, Reading
from nursestation.devices.registry import PROTOCOLS, decoder_for

__all__ = ["PROTOCOLS", "DecodeStats", "PlausibleRanges", "Reading", "decoder_for"]
