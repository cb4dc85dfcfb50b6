"""Scenario steps for bedside monitors: `device_frames` feeds a monitor's raw frames (or readings
written out) through the capture path (the protocol's registered decoder, the capture worker's
NIBP de-duplication, the capture service's store), synchronously at the scenario clock; the
`expect_state` keys `flowsheet_hr`, `note_hr` and `export_hr` check that a heart rate shows the
same in the flowsheet, the signed note and the FHIR export (docs/scenarios.md, "Bedside
monitors")."""

from __future__ import annotations

import json
import tempfile
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

from nursestation.app import flowsheet, notes
from nursestation.app.capture import CaptureService, FrameFeed
from nursestation.app.context import Actor
from nursestation.devices.reading import QUALITIES, VALID, PlausibleRanges, Reading, make_reading
from nursestation.devices.registry import SPECS, protocol_spec
from nursestation.errors import BAD_INPUT, DomainError
from nursestation.scenario.registry import StepContext, need, state_check, step

_SERVICE_KEY = "capture_service"
_FEEDS_KEY = "device_feeds"  # (chair, protocol, port) -> FrameFeed


def _service(sc: StepContext) -> CaptureService:
    service = sc.notes.get(_SERVICE_KEY)
    if service is None:
        # No writer thread: each step's readings are stored before the step returns, in order.
        service = CaptureService(sc.ctx, threaded=False)
        sc.notes[_SERVICE_KEY] = service
    return service


def _feed(sc: StepContext, chair: str, protocol: str, port: str) -> FrameFeed:
    feeds: dict[tuple[str, str, str], FrameFeed] = sc.notes.setdefault(_FEEDS_KEY, {})
    key = (chair, protocol, port)
    if key not in feeds:
        # One feed per monitor: a frame split over two steps is joined, as on an open port.
        feeds[key] = FrameFeed(_service(sc), chair, protocol, port)
    return feeds[key]


def _frame_bytes(protocol: str, i: int, frame: Any) -> bytes:
    """A frame as written in the scenario: text (sent as Latin-1 bytes: the ASCII protocols,
    with "\\r\\n" written as JSON escapes), {"hex": "80 58 61 00"} for binary protocols, or
    {"vitals": {...}} for the frame the protocol's simulator writes for those values."""
    where = f"frames[{i}]"
    if isinstance(frame, str):
        try:
            return frame.encode("latin-1")
        except UnicodeEncodeError:
            raise DomainError(
                BAD_INPUT, f"{where} has characters outside Latin-1.", field="frames"
            ) from None
    if isinstance(frame, dict) and "hex" in frame:
        try:
            return bytes.fromhex(str(frame["hex"]))
        except ValueError:
            raise DomainError(
                BAD_INPUT, f"{where}: 'hex' must be pairs of hex digits.", field="frames"
            ) from None
    if isinstance(frame, dict) and "vitals" in frame:
        spec = protocol_spec(protocol)
        try:
            return spec.simulated_frame(dict(frame["vitals"]))
        except (TypeError, ValueError) as exc:
            raise DomainError(BAD_INPUT, f"{where}: {exc}", field="frames") from None
    raise DomainError(
        BAD_INPUT,
        f'{where} must be a text frame, {{"hex": "…"}} or {{"vitals": {{…}}}}.',
        field="frames",
    )


def _written_reading(sc: StepContext, protocol: str, i: int, raw: Any) -> Reading:
    """A reading written out in the scenario: {"param", "value", optional "quality", "reason",
    "device_id"}; judged by the clinic's plausibility ranges as a decoded one would be."""
    where = f"readings[{i}]"
    if not isinstance(raw, dict) or "param" not in raw:
        raise DomainError(BAD_INPUT, f"{where} needs 'param' and 'value'.", field="readings")
    quality = str(raw.get("quality", VALID))
    if quality not in QUALITIES:
        raise DomainError(
            BAD_INPUT,
            f"{where}: quality '{quality}' must be one of {', '.join(QUALITIES)}.",
            field="readings",
        )
    value = raw.get("value")
    if value is not None and not isinstance(value, int | float):
        raise DomainError(BAD_INPUT, f"{where}: 'value' must be a number.", field="readings")
    ranges = PlausibleRanges.from_settings(sc.ctx.settings)
    return ranges.check(
        make_reading(
            protocol,
            str(raw["param"]),
            None if value is None else float(value),
            quality,
            raw.get("reason"),
            None,
            sc.clock.now(),
            raw.get("device_id"),
        )
    )


@step("device_frames")
def _device_frames(sc: StepContext, _actor: Actor, st: dict[str, Any]) -> str:
    """Monitor data for a chair, received at the step time (stored as the monitor's, no user)."""
    chair = str(need(st, "chair"))
    protocol = str(need(st, "protocol"))
    if protocol not in SPECS:
        raise DomainError(
            BAD_INPUT,
            f"protocol '{protocol}' is unknown: use one of {', '.join(SPECS)}.",
            field="protocol",
        )
    port = str(st.get("port", f"scenario://chair-{chair}"))
    has_frames, has_readings = "frames" in st, "readings" in st
    if has_frames == has_readings:
        raise DomainError(
            BAD_INPUT, "device_frames needs either 'frames' or 'readings'.", field="frames"
        )
    feed = _feed(sc, chair, protocol, port)
    try:
        if has_readings:
            if not isinstance(st["readings"], list) or not st["readings"]:
                raise DomainError(
                    BAD_INPUT, "'readings' must be a non-empty list.", field="readings"
                )
            readings = [_written_reading(sc, protocol, i, r) for i, r in enumerate(st["readings"])]
            feed.store(readings)
        else:
            if not isinstance(st["frames"], list) or not st["frames"]:
                raise DomainError(BAD_INPUT, "'frames' must be a non-empty list.", field="frames")
            data = b"".join(_frame_bytes(protocol, i, f) for i, f in enumerate(st["frames"]))
            readings = feed.feed(data, sc.clock.now())
    except RuntimeError as exc:
        raise DomainError("storage_failed", str(exc)) from None
    if not readings:
        if feed.decoder.buffered:
            return f"no complete {protocol} frame yet ({feed.decoder.buffered} bytes wait)"
        raise DomainError(
            BAD_INPUT,
            f"'frames' hold no valid {protocol} frame ({feed.decoder.stats.bytes_skipped} "
            "bytes skipped so far): check the protocol and the frame text.",
            field="frames",
        )
    shown = ", ".join(
        f"{r.param} {r.value:g}" if r.value is not None else f"{r.param} ({r.quality})"
        for r in readings
    )
    return f"chair {chair}: {len(readings)} readings from {protocol} stored ({shown})"


# ---------------------------------------------------------------- heart rate everywhere

_SOURCES = ("hr", "pulse_rate")


def _want_hr(key: str, want: Any) -> tuple[float, str | None]:
    """`88` or {"value": 88, "source": "pulse_rate" | "hr"}."""
    if isinstance(want, int | float) and not isinstance(want, bool):
        return float(want), None
    if isinstance(want, dict) and isinstance(want.get("value"), int | float):
        source = want.get("source")
        if source is not None and source not in _SOURCES:
            raise DomainError(
                BAD_INPUT,
                f"expect_state {key}: source must be one of {', '.join(_SOURCES)}.",
                field=key,
            )
        return float(want["value"]), source
    raise DomainError(
        BAD_INPUT,
        f'expect_state {key} must be a number or {{"value": n, "source": "pulse_rate"}}.',
        field=key,
    )


def _mismatch(where: str, got: tuple[float | None, str | None], want: Any, key: str) -> str | None:
    value, source = _want_hr(key, want)
    if got[0] is None:
        return f"{where} shows no heart rate, expected {value:g}"
    if got[0] != value or (source is not None and got[1] != source):
        shown = f"{got[0]:g} ({got[1]})"
        return f"{where} shows HR {shown}, expected {value:g}" + (f" ({source})" if source else "")
    return None


@state_check("flowsheet_hr")
def _flowsheet_hr(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    """The newest flowsheet row's HR and where it came from (HR, or the oximeter's pulse)."""
    delta = flowsheet.flowsheet_since(sc.ctx, actor, sid)
    if not delta.readings:
        return "the flowsheet has no reading"
    newest = delta.readings[-1]
    hr = newest.values.get("hr")
    return _mismatch(
        "the flowsheet", (hr, "pulse_rate" if newest.hr_from_pulse else "hr"), want, "flowsheet_hr"
    )


@state_check("note_hr")
def _note_hr(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    """The newest signed note's text prints the HR: "88 PR" when it is the pulse rate."""
    from pypdf import PdfReader

    value, source = _want_hr("note_hr", want)
    latest = notes.latest_note(sc.ctx, actor, sid)
    if latest is None:
        return "the session has no signed note"
    pdf = notes.note_pdf(sc.ctx, actor, latest.note_id)
    text = "\n".join(p.extract_text() for p in PdfReader(BytesIO(pdf)).pages)
    words = text.split()
    hits = [i for i, w in enumerate(words) if w == f"{value:g}"]
    as_pulse = [i for i in hits if i + 1 < len(words) and words[i + 1] == "PR"]
    if source == "pulse_rate":
        return None if as_pulse else f"the signed note shows no HR {value:g} PR (pulse rate)"
    if source == "hr":
        ecg = len(hits) > len(as_pulse)
        return None if ecg else f"the signed note shows no HR {value:g} (ECG heart rate)"
    return None if hits else f"the signed note shows no HR {value:g}"


@state_check("export_hr")
def _export_hr(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    """The FHIR export of the session (as an administrator exports it) holds a heart-rate
    Observation (LOINC 8867-4) with this value; with source "pulse_rate", one that names the
    monitor it came from."""
    from nursestation.app.export import ExportFilter, export_notes

    value, source = _want_hr("export_hr", want)
    today = sc.clock.now().date()  # scenarios last hours: two days either side hold the session
    label = notes.note_label(sid)
    with tempfile.TemporaryDirectory(prefix="nursestation-scenario-export-") as tmp:
        out = Path(tmp) / "export"
        flt = ExportFilter(date_from=today - timedelta(days=2), date_to=today + timedelta(days=2))
        export_notes(sc.ctx, actor, flt, out, ("fhir",))
        bundles = [json.loads(p.read_text()) for p in sorted((out / "fhir").glob("*.json"))]
    bundles = [b for b in bundles if b.get("identifier", {}).get("value") == label]
    if not bundles:
        return f"the FHIR export holds no bundle of session {label}"
    found: list[float] = []
    for bundle in bundles:
        for entry in bundle.get("entry", []):
            res = entry["resource"]
            codes = {c.get("code") for c in res.get("code", {}).get("coding", [])}
            if res.get("resourceType") != "Observation" or "8867-4" not in codes:
                continue
            # A pulse rate comes from a monitor: its Observation names the device.
            if source == "pulse_rate" and "device" not in res:
                continue
            found.append(float(res["valueQuantity"]["value"]))
    if value not in found:
        shown = ", ".join(f"{v:g}" for v in found) or "none"
        what = "from a monitor " if source == "pulse_rate" else ""
        return f"the FHIR export has no heart rate {value:g} {what}(found: {shown})"
    return None
