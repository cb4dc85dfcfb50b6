"""Serial port discovery (`list_ports`), for the port picker and `nursestation check`."""

from __future__ import annotations

from dataclasses import dataclass

from serial.tools import list_ports as _list_ports


@dataclass(frozen=True)
class PortInfo:
    """One serial port as the OS reports it; vid/pid are generic chip ids, not device identities."""

    device: str
    description: str
    hwid: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    manufacturer: str | None
    product: str | None
    location: str | None

    @property
    def usb_id(self) -> str | None:
        """`VVVV:PPPP` in hex for USB ports, else None."""
        if self.vid is None or self.pid is None:
            return None
        return f"{self.vid:04X}:{self.pid:04X}"

    def label(self) -> str:
        """A one-line description for a port picker."""
        parts = [self.device]
        if self.description and self.description != "n/a":
            parts.append(self.description)
        if self.usb_id:
            parts.append(f"USB {self.usb_id}")
        if self.serial_number:
            parts.append(f"SN {self.serial_number}")
        return " · ".join(parts)


def list_ports(include_links: bool = False) -> list[PortInfo]:
    """The serial ports present now, sorted by device name (`include_links` adds udev symlinks)."""
    ports = [
        PortInfo(
            device=p.device,
            description=p.description or "",
            hwid=p.hwid or "",
            vid=p.vid,
            pid=p.pid,
            serial_number=p.serial_number,
            manufacturer=p.manufacturer,
            product=p.product,
            location=p.location,
        )
        for p in _list_ports.comports(include_links=include_links)
    ]
    return sorted(ports, key=lambda p: p.device)
