"""HL7 v2 ORU^R01 over MLLP decoder (`hl7-mllp`), devices.md §1.5 and §1.8.

MLLP frame: 0x0B, message (segments separated by CR), 0x1C 0x0D. OBX rows are mapped to
parameters by a configurable table keyed on the OBX-3 mnemonic or code (MDC, LOINC, vendor).
When the sender asks for an acknowledgement, an original-mode ACK is queued for
`take_replies()`: `MSA|AA` only when every OBX row that carries a value was decoded (a number in
ASCII digits, finite, in a known unit, for a known observation); otherwise `MSA|AE` with an ERR
segment per row naming the segment, its sequence and the field, so a sender never believes a
value was taken that was not. Other message types are answered `MSA|AR`.
With `hold_replies` set (the capture worker does when its readings are stored), the ACK is not
queued but held (`take_held`) until the readings are stored: then as above, or AE with an ERR
207 per OBX row whose value could not be stored.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from nursestation.clinic import ClinicSettings, load_defaults
from nursestation.devices.base import BaseDecoder, HeldReply
from nursestation.devices.protocol import ProtocolSpec, SimFrame, Vitals, ranges_of
from nursestation.devices.reading import (
    PARAMS,
    QUESTIONABLE,
    REASON_NO_VALUE,
    REASON_SENTINEL,
    UNAVAILABLE,
    VALID,
    PlausibleRanges,
    Reading,
    make_reading,
)

PROTOCOL = "hl7-mllp"
REASON_NOT_NUMERIC = "not_numeric"
REASON_NOT_FINITE = "not_finite"
REASON_UNKNOWN_UNIT = "unknown_unit"
REASON_RETRACTED = "retracted"
# OBX-11 result statuses (HL7 table 0085) W "post original as wrong" and D "delete".
RETRACTING_STATUSES = ("W", "D")
SB = b"\x0b"
EB_CR = b"\x1c\x0d"
MAX_MESSAGE = 256 * 1024

# Units per parameter family, matched against every component of OBX-6 (case-insensitive).
_MMHG = {"266016", "mdc_dim_mmhg", "mm[hg]", "mmhg"}
_KPA = {"268842", "mdc_dim_kilo_pascal", "kpa"}
_PERCENT = {"262688", "mdc_dim_percent", "%"}
_PER_MIN = {
    "264864",
    "264928",
    "mdc_dim_beat_per_min",
    "mdc_dim_resp_per_min",
    "{beat}/min",
    "{beats}/min",
    "{breath}/min",
    "{breaths}/min",
    "beats/min",
    "breaths/min",
    "{resp}/min",
    "/min",
    "bpm",
    "rpm",
    "brpm",
}
_CELSIUS = {"268192", "mdc_dim_degc", "cel", "c", "°c", "degc"}
_FAHRENHEIT = {"268160", "mdc_dim_fahr", "[degf]", "f", "°f", "degf"}

# ASCII digits only: Python's \d also matches other scripts' digits ('٩' is 9 to float()).
_TS = re.compile(
    r"^([0-9]{4})([0-9]{2})?([0-9]{2})?([0-9]{2})?([0-9]{2})?([0-9]{2})?(?:\.[0-9]+)?"
    r"([+-][0-9]{4})?$"
)
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$")

# HL7 table 0357 message error condition codes used in ERR.
ERR_DATA_TYPE = ("102", "Data type error")
ERR_TABLE_VALUE = ("103", "Table value not found")
ERR_UNSUPPORTED_TYPE = ("200", "Unsupported message type")
ERR_INTERNAL = ("207", "Application internal error")


@dataclass(frozen=True)
class SegmentProblem:
    """Why one segment's value was not taken: where (segment, its sequence, field) and what."""

    segment: str
    sequence: int
    field: int
    code: tuple[str, str]
    text: str


@dataclass(frozen=True)
class HL7Config:
    """The OBX-3 → parameter table and the no-value sentinels."""

    code_map: Mapping[str, str]
    sentinels: tuple[float, ...]
    receiving_application: str = "NurseStation"

    @classmethod
    def from_settings(cls, settings: ClinicSettings) -> HL7Config:
        """Build from the `devices.hl7` clinic settings section."""
        section = settings.section("devices.hl7")
        return cls.from_dict(section)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> HL7Config:
        """Build from `{"code_map": {...}, "sentinels": [...]}`; unknown parameters are refused."""
        code_map = dict(data["code_map"])  # type: ignore[call-overload]
        for key, param in code_map.items():
            if param not in PARAMS:
                raise ValueError(f"HL7 code '{key}' maps to unknown parameter '{param}'")
        sentinels = tuple(float(x) for x in data["sentinels"])  # type: ignore[attr-defined]
        return cls(code_map=code_map, sentinels=sentinels)

    @classmethod
    def default(cls) -> HL7Config:
        """The shipped defaults (resources/clinic/devices.json), loaded once."""
        return _default_config()

    def param_for(self, identifier: str) -> str | None:
        """The parameter for an OBX-3 value `code^mnemonic^system`, mnemonic first."""
        parts = identifier.split("^")
        code = parts[0].strip()
        name = parts[1].strip() if len(parts) > 1 else ""
        if name and name in self.code_map:
            return self.code_map[name]
        if code and code in self.code_map:
            return self.code_map[code]
        return None

    def is_sentinel(self, value: float) -> bool:
        """True when `value` is one of the configured no-value codes."""
        return any(math.isclose(value, s, rel_tol=0, abs_tol=1e-6) for s in self.sentinels)


@functools.cache
def _default_config() -> HL7Config:
    return HL7Config.from_settings(load_defaults())


def parse_hl7_time(text: str) -> datetime | None:
    """An HL7 TS/DTM (`YYYY[MM[DD[HH[MM[SS]]]]][.S][+ZZZZ]`); aware when an offset is given."""
    text = text.split("^", 1)[0].strip()
    m = _TS.match(text)
    if not m:
        return None
    year, month, day, hour, minute, second, offset = m.groups()
    try:
        when = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
        )
    except ValueError:
        return None  # e.g. the all-zero "no measurement" time 00000000000000
    if offset:
        sign = 1 if offset[0] == "+" else -1
        delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
        if delta >= timedelta(hours=24):
            return None
        when = when.replace(tzinfo=timezone(sign * delta))
    return when


def mllp_wrap(message: str | bytes) -> bytes:
    """Frame one HL7 message for MLLP (segments must already be separated by CR)."""
    body = message.encode("utf-8") if isinstance(message, str) else message
    return SB + body + EB_CR


def hl7_timestamp(when: datetime) -> str:
    """`YYYYMMDDHHMMSS+ZZZZ` for an aware datetime (naive is written without an offset)."""
    if when.tzinfo is None:
        return when.strftime("%Y%m%d%H%M%S")
    return when.strftime("%Y%m%d%H%M%S%z")


def hl7_escape(text: str, sep: str, enc: str) -> str:
    """`text` with the message's delimiters written as HL7 escape sequences (\\F\\, \\S\\ ...)."""
    chars = (enc + "^~\\&"[len(enc) :])[:4]
    comp, rep_, esc, sub = chars[0], chars[1], chars[2], chars[3]
    names = {esc: "E", sep: "F", comp: "S", rep_: "R", sub: "T"}
    out = []
    for ch in text:
        if ch in names:
            out.append(f"{esc}{names[ch]}{esc}")
        elif ch in "\r\n" or not ch.isprintable():
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def build_ack(
    msh: Sequence[str],
    sep: str,
    code: str,
    host_time: datetime,
    app: str = "NurseStation",
    problems: Sequence[SegmentProblem] = (),
) -> str:
    """An original-mode ACK for a received MSH split on `sep`: `MSA|<code>|<MSH-10>`, and for
    AE/AR a short MSA-3 text and one ERR segment per problem (HL7 v2.5 layout from MSH-12 2.5
    on: ERR-2 location, ERR-3 code, ERR-4 severity, ERR-8 text; ERR-1 before 2.5)."""
    enc = msh[1] if len(msh) > 1 and msh[1] else "^~\\&"

    def f(n: int) -> str:
        return msh[n - 1] if len(msh) >= n else ""

    trigger = f(9).split(enc[0])[1] if enc[0] in f(9) else ""
    control = f(10)
    fields = [
        "MSH",
        enc,
        app,
        "",
        f(3),
        f(4),
        hl7_timestamp(host_time.astimezone(UTC)),
        "",
        f"ACK{enc[0]}{trigger}{enc[0]}ACK" if trigger else "ACK",
        f"ACK{control}"[:20] if control else "ACK",
        f(11) or "P",
        f(12) or "2.6",
    ]
    msa = ["MSA", code, control]
    if problems:
        first = problems[0]
        count = f"{len(problems)} rows not taken; " if len(problems) > 1 else ""
        msa.append(hl7_escape(f"{count}{first.text}"[:80], sep, enc))  # 80: MSA-3 length in 2.3
    segments = [sep.join(fields), sep.join(msa)]
    comp, sub = enc[0], (enc[3] if len(enc) > 3 else "&")
    v25 = _version_at_least(f(12) or "2.6", (2, 5))
    for p in problems:
        text = hl7_escape(p.text, sep, enc)
        where = comp.join([p.segment, str(p.sequence), str(p.field)])
        error = comp.join([p.code[0], hl7_escape(p.code[1], sep, enc), "HL70357"])
        if v25:
            segments.append(sep.join(["ERR", "", where, error, "E", "", "", "", text]))
        else:
            old_error = sub.join([p.code[0], hl7_escape(p.code[1], sep, enc), "HL70357"])
            segments.append(sep.join(["ERR", comp.join([where, old_error])]))
    return "\r".join(segments) + "\r"


def _version_at_least(version: str, wanted: tuple[int, int]) -> bool:
    parts = version.split("^", 1)[0].split(".")
    try:
        return (int(parts[0]), int(parts[1]) if len(parts) > 1 else 0) >= wanted
    except ValueError:
        return True  # unreadable version: answer in the current layout


def _not_stored(rows: Sequence[int], why: str) -> list[SegmentProblem]:
    """One ERR per OBX row whose reading could not be stored (the station's own failure)."""
    return [
        SegmentProblem("OBX", seq, 5, ERR_INTERNAL, f"OBX {seq}: value not stored: {why}")
        for seq in dict.fromkeys(rows)
    ]


def _ack_wanted(msh: Sequence[str]) -> bool:
    """Original mode (MSH-15/16 empty) always expects an ACK; enhanced mode says AL/SU."""
    accept = msh[14].strip().upper() if len(msh) > 14 else ""
    application = msh[15].strip().upper() if len(msh) > 15 else ""
    if not accept and not application:
        return True
    return accept in ("AL", "SU") or application in ("AL", "SU")


def _unit_factor(param: str, unit_field: str) -> tuple[str, float, float] | None:
    """(kind, scale, offset) to convert a value to the contract unit; None when unknown."""
    components = {c.strip().lower() for c in unit_field.split("^") if c.strip()}
    if not components:
        return ("ok", 1.0, 0.0)
    if param == "temp":
        if components & _FAHRENHEIT:
            return ("F", 5.0 / 9.0, -32.0)
        if components & _CELSIUS:
            return ("ok", 1.0, 0.0)
        return None
    if param in ("sbp", "dbp", "map", "etco2"):
        if components & _MMHG:
            return ("ok", 1.0, 0.0)
        if components & _KPA:
            return ("kPa", 7.50062, 0.0)
        return None
    if param in ("spo2", "pi"):
        return ("ok", 1.0, 0.0) if components & _PERCENT else None
    return ("ok", 1.0, 0.0) if components & _PER_MIN else None


class HL7Decoder(BaseDecoder):
    """Incremental decoder for HL7 v2 observation messages in MLLP frames."""

    protocol = PROTOCOL

    def __init__(
        self, config: HL7Config | None = None, ranges: PlausibleRanges | None = None
    ) -> None:
        super().__init__(ranges, max_buffer=MAX_MESSAGE)
        self.config = config if config is not None else HL7Config.default()

    def _overflow(self) -> None:
        # A message larger than the cap can never complete: drop it whole.
        self.stats.rejected += 1
        self.stats.bytes_skipped += len(self._buf)
        self._buf.clear()

    def _decode(self, host_time: datetime) -> list[Reading]:
        buf = self._buf
        out: list[Reading] = []
        while True:
            start = buf.find(SB)
            if start < 0:
                self.stats.bytes_skipped += len(buf)
                buf.clear()
                break
            if start > 0:
                self.stats.bytes_skipped += start
                del buf[:start]
            end = buf.find(EB_CR, 1)
            nxt = buf.find(SB, 1)
            if nxt > 0 and (end < 0 or nxt < end):
                # A new frame began before this one ended: the first one is incomplete.
                self.stats.rejected += 1
                self.stats.bytes_skipped += nxt
                del buf[:nxt]
                continue
            if end < 0:
                break
            body = bytes(buf[1:end])
            del buf[: end + 2]
            out.extend(self._message(body, host_time))
        return out

    def _message(self, body: bytes, host_time: datetime) -> list[Reading]:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = body.decode("latin-1")
        segments = [s for s in re.split(r"\r\n|\r|\n", text) if s.strip()]
        if not segments or not segments[0].startswith("MSH") or len(segments[0]) < 8:
            self.stats.rejected += 1
            return []
        sep = segments[0][3]
        if sep.isalnum() or sep.isspace():
            self.stats.rejected += 1  # not an MSH field separator: nothing here can be read
            return []
        msh = segments[0].split(sep)
        comp = msh[1][:1] or "^"
        self.stats.frames += 1
        message_type = msh[8].split(comp)[0] if len(msh) > 8 else ""
        readings: list[Reading] = []
        problems: list[SegmentProblem] = []
        rows: list[int] = []  # the OBX sequence number of each reading
        if message_type in ("ORU", ""):
            readings, problems, rows = self._observations(segments, sep, comp, msh, host_time)
            code = "AE" if problems else "AA"
        else:
            code = "AR"
            problems = [
                SegmentProblem(
                    "MSH", 1, 9, ERR_UNSUPPORTED_TYPE, f"message type {msh[8]} is not accepted"
                )
            ]
        app = self.config.receiving_application
        wanted = _ack_wanted(msh)
        if self.hold_replies:
            # The ACK waits for the store: as decoded once stored, AE when not stored.
            def refused(why: str) -> bytes:
                named = {p.sequence for p in problems if p.segment == "OBX"}
                failed = [*problems, *_not_stored([r for r in rows if r not in named], why)]
                refusal = "AE" if code == "AA" else code
                return mllp_wrap(build_ack(msh, sep, refusal, host_time, app, failed))

            accepted = mllp_wrap(build_ack(msh, sep, code, host_time, app, problems))
            self._held.append(
                HeldReply(len(readings), accepted if wanted else None, refused if wanted else None)
            )
        elif wanted:
            ack = build_ack(msh, sep, code, host_time, app, problems)
            self._replies += mllp_wrap(ack)
        return readings

    def _observations(
        self, segments: list[str], sep: str, comp: str, msh: list[str], host_time: datetime
    ) -> tuple[list[Reading], list[SegmentProblem], list[int]]:
        """The readings of the OBX rows, a problem for each row whose value was not taken, and
        the OBX sequence number of each reading."""
        msg_time = parse_hl7_time(msh[6]) if len(msh) > 6 else None
        msg_device = _device_id(msh[2] if len(msh) > 2 else "", comp)
        obr_time: datetime | None = None
        row_device: str | None = None
        times: dict[str, datetime] = {}
        out: list[Reading] = []
        problems: list[SegmentProblem] = []
        rows: list[int] = []
        obx_seq = 0
        for segment in segments[1:]:
            fields = segment.split(sep)
            kind = fields[0]
            if kind == "OBR":
                obr_time = parse_hl7_time(fields[7]) if len(fields) > 7 else None
                continue
            if kind != "OBX":
                continue
            obx_seq += 1

            def f(n: int, fields: list[str] = fields) -> str:
                return fields[n].strip() if len(fields) > n else ""

            sub_id = f(4)
            row_time = parse_hl7_time(f(14)) if f(14) else None
            if row_time is not None and sub_id:
                times[sub_id] = row_time
            equipment = _device_id(f(18), comp)
            if equipment:
                row_device = equipment
            param = self.config.param_for(f(3))
            if param is None:
                if f(5) and f(11).upper() != "X":
                    problems.append(
                        SegmentProblem(
                            "OBX",
                            obx_seq,
                            3,
                            ERR_TABLE_VALUE,
                            f"OBX {obx_seq}: observation {_shown(f(3), quote=False)} is not "
                            "one NurseStation records",
                        )
                    )
                continue
            device_time = row_time or _parent_time(sub_id, times) or obr_time or msg_time
            device_id = equipment or row_device or msg_device
            reading = self._obx_reading(param, f(5), f(6), f(11), device_time, host_time, device_id)
            out.append(reading)
            rows.append(obx_seq)
            problem = _value_problem(reading, f(3), f(5), f(6), obx_seq)
            if problem is not None:
                problems.append(problem)
        return out, problems, rows

    def _obx_reading(
        self,
        param: str,
        raw_value: str,
        unit_field: str,
        status: str,
        device_time: datetime | None,
        host_time: datetime,
        device_id: str | None,
    ) -> Reading:
        def reading(value: float | None, quality: str, reason: str | None) -> Reading:
            return make_reading(
                PROTOCOL, param, value, quality, reason, device_time, host_time, device_id
            )

        if status.upper() == "X":
            return reading(None, UNAVAILABLE, "cannot_obtain")
        if status.upper() in RETRACTING_STATUSES:
            # "Wrong"/"deleted": the sender withdraws a value. Never a value to chart; a stored
            # reading is never rewritten from here (the ACK says so, see _value_problem).
            return reading(None, UNAVAILABLE, REASON_RETRACTED)
        if not raw_value:
            return reading(None, UNAVAILABLE, REASON_NO_VALUE)
        if not _NUMBER.match(raw_value):
            return reading(None, UNAVAILABLE, REASON_NOT_NUMERIC)
        number = float(raw_value)
        if not math.isfinite(number):
            return reading(None, UNAVAILABLE, REASON_NOT_FINITE)  # e.g. 400 digits: inf
        if self.config.is_sentinel(number):
            return reading(None, UNAVAILABLE, REASON_SENTINEL)
        factor = _unit_factor(param, unit_field)
        if factor is None:
            # Keep the raw number but never as truth: we cannot tell what unit it is in.
            return reading(number, QUESTIONABLE, REASON_UNKNOWN_UNIT)
        _, scale, offset = factor
        value = round((number + offset) * scale, 2) if (scale, offset) != (1.0, 0.0) else number
        return reading(value, VALID, None)


def _value_problem(
    reading: Reading, identifier: str, raw_value: str, unit: str, seq: int
) -> SegmentProblem | None:
    """Why an OBX value of a known observation was not taken as a number, or None."""
    if reading.reason in (REASON_NOT_NUMERIC, REASON_NOT_FINITE):
        return SegmentProblem(
            "OBX",
            seq,
            5,
            ERR_DATA_TYPE,
            f"OBX {seq}: value {_shown(raw_value)} of {_shown(identifier, quote=False)} is not a "
            "finite number "
            "in ASCII digits",
        )
    if reading.reason == REASON_RETRACTED:
        return SegmentProblem(
            "OBX",
            seq,
            11,
            ERR_TABLE_VALUE,
            f"OBX {seq}: result status W/D (withdraw) of {_shown(identifier, quote=False)} is "
            "not applied: stored readings are only corrected by a person",
        )
    if reading.reason == REASON_UNKNOWN_UNIT:
        return SegmentProblem(
            "OBX",
            seq,
            6,
            ERR_TABLE_VALUE,
            f"OBX {seq}: unit {_shown(unit)} of {_shown(identifier, quote=False)} is not "
            f"understood for {reading.param}",
        )
    return None


def _shown(text: str, quote: bool = True, limit: int = 40) -> str:
    """`text` for an ACK: ASCII only (other characters as \\uXXXX), at most `limit` characters."""
    shown = text.encode("ascii", "backslashreplace").decode("ascii")
    if len(shown) > limit:
        shown = shown[: limit - 3] + "..."
    return f"'{shown}'" if quote else shown


def _parent_time(sub_id: str, times: Mapping[str, datetime]) -> datetime | None:
    """The observation time of the nearest containing row (`1.0.1` for `1.0.1.1`)."""
    parts = sub_id.split(".")
    while len(parts) > 1:
        parts.pop()
        when = times.get(".".join(parts))
        if when is not None:
            return when
    return None


def _device_id(field: str, comp: str) -> str | None:
    """An equipment identifier from `id^namespace^...` (EUI-64 form preferred)."""
    parts = [p.strip() for p in field.split(comp)]
    if not parts or not any(parts):
        return None
    if len(parts) >= 3 and parts[2].upper() == "EUI-64" and parts[1]:
        return parts[1]  # MSH-3 form: application^EUI-64 id^EUI-64
    return parts[0] or None


# ---------------------------------------------------------------- simulator and description


def hl7_oru(
    control_id: str,
    when: datetime,
    vitals: Vitals | None,
    nibp: tuple[int, int, int, datetime] | None,
    equipment: str = "080019FFFE3ED02D",
    fahrenheit: bool = False,
) -> str:
    """An IHE PCD-01 style ORU^R01 with periodic values and (if given) the last NIBP measurement."""
    ts = hl7_timestamp(when)
    seg = [
        f"MSH|^~\\&|SIMMON^{equipment}^EUI-64||||{ts}||ORU^R01^ORU_R01|{control_id}|P|2.6|||NE|AL",
        "PID|||SIM-0001^^^Sim^PI||Sim^Patient",
        f"OBR|1|{control_id}^SIMMON|{control_id}^SIMMON|182777000^monitoring of patient^SCT|||{ts}",
        "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X",
    ]
    rows: list[tuple[str, str, str, str]] = []
    unavailable = "X"
    if vitals is not None:
        temp = round(vitals.temp_c * 9 / 5 + 32, 1) if fahrenheit else vitals.temp_c
        t_unit = "268160^MDC_DIM_FAHR^MDC" if fahrenheit else "268192^MDC_DIM_DEGC^MDC"
        rows += [
            (
                "147842^MDC_ECG_HEART_RATE^MDC",
                str(vitals.hr),
                "264864^MDC_DIM_BEAT_PER_MIN^MDC",
                ts,
            ),
            ("150456^MDC_PULS_OXIM_SAT_O2^MDC", str(vitals.spo2), "262688^MDC_DIM_PERCENT^MDC", ts),
            (
                "149530^MDC_PULS_OXIM_PULS_RATE^MDC",
                str(vitals.hr),
                "264864^MDC_DIM_BEAT_PER_MIN^MDC",
                ts,
            ),
            ("151562^MDC_RESP_RATE^MDC", str(vitals.rr), "264928^MDC_DIM_RESP_PER_MIN^MDC", ts),
            ("151712^MDC_CONC_AWAY_CO2_EXP^MDC", str(vitals.etco2), "266016^MDC_DIM_MMHG^MDC", ts),
            ("150344^MDC_TEMP^MDC", f"{temp}", t_unit, ts),
        ]
    else:
        rows += [
            (
                "150456^MDC_PULS_OXIM_SAT_O2^MDC",
                "8388607",
                "262688^MDC_DIM_PERCENT^MDC",
                unavailable,
            ),
            (
                "149530^MDC_PULS_OXIM_PULS_RATE^MDC",
                "",
                "264864^MDC_DIM_BEAT_PER_MIN^MDC",
                unavailable,
            ),
        ]
    n = 2
    for code, value, unit, when_or_x in rows:
        status, obs_ts = ("X", "") if when_or_x == unavailable else ("R", when_or_x)
        seg.append(f"OBX|{n}|NM|{code}|1.{n}.1.1|{value}|{unit}|||||{status}|||{obs_ts}")
        n += 1
    if nibp is not None:
        sbp, dbp, mean, measured = nibp
        mts = hl7_timestamp(measured)
        seg.append(f"OBX|{n}||150020^MDC_PRESS_BLD_NONINV^MDC|1.1.9|||||||R|||{mts}")
        for k, (code, mmhg) in enumerate(
            (
                ("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", sbp),
                ("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", dbp),
                ("150023^MDC_PRESS_BLD_NONINV_MEAN^MDC", mean),
            ),
            start=1,
        ):
            seg.append(f"OBX|{n + k}|NM|{code}|1.1.9.{k}|{mmhg}|266016^MDC_DIM_MMHG^MDC|||||R")
    return "\r".join(seg) + "\r"


def _simulate(f: SimFrame) -> bytes:
    msg = hl7_oru(f"SIM{f.n:06d}", f.when, f.vitals, f.nibp)
    if f.corrupt:  # no checksum in MLLP: a damaged header makes the message unreadable
        msg = "MXH" + msg[3:]
    return mllp_wrap(msg)


def _decoder(settings: ClinicSettings | None) -> BaseDecoder:
    hl7 = HL7Config.from_settings(settings) if settings is not None else None
    return HL7Decoder(hl7, ranges_of(settings))


SPECS: tuple[ProtocolSpec, ...] = (
    ProtocolSpec(
        key=PROTOCOL,
        label="HL7 v2 ORU^R01 over MLLP",
        decoder=_decoder,
        simulate=_simulate,
        tick_s=5.0,  # gateways send periodic vitals every 1–30 s (devices.md §4)
        silence_s=30.0,
        sends_nibp=True,
    ),
)
