"""The pre-infusion checklist: structured answers plus baseline vitals → per-item status.

Each item ends ok, warning, hard_stop or missing. A missing answer always blocks the start
(code checklist_incomplete); a failed hard-stop item blocks it too (code criteria_not_met).
Blocking items on which the clinic allows it (session.json `overridable`) are released by a
charge-nurse override that carries a written reason; checking that the user really is a charge
nurse belongs to the service layer, the "override needs a reason" rule lives here. Warnings
never block: the service shows them and records that they were seen.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from nursestation.clinic import ClinicSettings, ConfigError
from nursestation.clock import ensure_utc
from nursestation.errors import BAD_INPUT, CHECKLIST_INCOMPLETE, CRITERIA_NOT_MET, DomainError

OK = "ok"
WARNING = "warning"
HARD_STOP = "hard_stop"
MISSING = "missing"
SEVERITIES = (HARD_STOP, WARNING, "off")

ITEM_LABELS: dict[str, str] = {
    "consent_confirmed": "Informed consent confirmed for this session",
    "identity_two_identifiers": "Identity confirmed with two identifiers",
    "npo": "NPO status (last solids and clear liquids)",
    "escort": "Escort arranged (name and phone)",
    "pregnancy_screen": "Pregnancy screen",
    "contraindication_screen": "Contraindication screen",
    "interacting_medications": "Interacting medications taken today",
    "iv_access": "IV access (site, gauge, patency)",
    "baseline_vitals": "Baseline vitals within start limits",
}
ITEM_IDS = tuple(ITEM_LABELS)

PREGNANCY_ANSWERS = ("negative", "positive", "not_applicable")

# Session types given without an IV line: Spravato is a nasal spray (clinical.md §4.3), so the
# IV access item is not asked and cannot block its start.
NO_IV_SESSION_TYPES = frozenset({"spravato"})

# Keyed by the vital's one name (the vital_readings column). "temp" was this table's name for
# temp_c, so a clinic's "temp" never matched a stored reading (issue 14); session.json lists and
# start-limit keys written with it are read as temp_c until the next release.
_VITAL_ALIASES = {"temp": "temp_c"}
_VITAL_NAMES: dict[str, tuple[str, str]] = {
    "sbp": ("SBP", "mmHg"),
    "dbp": ("DBP", "mmHg"),
    "map": ("MAP", "mmHg"),
    "hr": ("HR", "/min"),
    "spo2": ("SpO2", "%"),
    "rr": ("RR", "/min"),
    "temp_c": ("Temperature", "°C"),
    "etco2": ("EtCO2", "mmHg"),
}


# --- answers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PreInfusionChecklist:
    """The nurse's answers; None means not answered yet. Times are aware datetimes."""

    consent_confirmed: bool | None = None
    identity_two_identifiers: bool | None = None
    last_solids_at: datetime | None = None
    last_clear_liquids_at: datetime | None = None
    escort_name: str | None = None
    escort_phone: str | None = None
    pregnancy_screen: str | None = None
    contraindications_screened: bool | None = None
    contraindications: tuple[str, ...] = ()
    interacting_medications_screened: bool | None = None
    interacting_medications: tuple[str, ...] = ()
    iv_site: str | None = None
    iv_gauge: int | None = None
    iv_patent: bool | None = None

    @classmethod
    def from_answers(cls, answers: Mapping[str, Any]) -> PreInfusionChecklist:
        """Parse a dict of answers (JSON-friendly: ISO 8601 times with offset). Unknown keys,
        wrong types and naive times are refused with DomainError('bad_input')."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in answers.items():
            if key not in known:
                raise DomainError(
                    BAD_INPUT,
                    f"Unknown checklist answer '{key}': allowed {', '.join(known)}.",
                    field=key,
                )
            values[key] = _parse_answer(key, raw)
        return cls(**values)

    def to_answers(self) -> dict[str, Any]:
        """JSON-friendly dict (times as ISO 8601 UTC); round-trips through from_answers."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, datetime):
                v = v.isoformat()
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out


_BOOL_KEYS = {
    "consent_confirmed",
    "identity_two_identifiers",
    "contraindications_screened",
    "interacting_medications_screened",
    "iv_patent",
}
_TIME_KEYS = {"last_solids_at", "last_clear_liquids_at"}
_TEXT_KEYS = {"escort_name", "escort_phone", "iv_site"}
_LIST_KEYS = {"contraindications", "interacting_medications"}


def _bad(key: str, what: str, raw: Any) -> DomainError:
    return DomainError(BAD_INPUT, f"Checklist answer '{key}' {what} (got {raw!r}).", field=key)


def _parse_answer(key: str, raw: Any) -> Any:
    if raw is None:
        return () if key in _LIST_KEYS else None
    if key in _BOOL_KEYS:
        if not isinstance(raw, bool):
            raise _bad(key, "must be true or false", raw)
        return raw
    if key in _TIME_KEYS:
        when = raw
        if isinstance(raw, str):
            try:
                when = datetime.fromisoformat(raw)
            except ValueError:
                raise _bad(
                    key, "must be an ISO 8601 date and time with a UTC offset", raw
                ) from None
        if not isinstance(when, datetime) or when.tzinfo is None:
            raise _bad(key, "must be a date and time with a UTC offset", raw)
        return ensure_utc(when)
    if key in _TEXT_KEYS:
        if not isinstance(raw, str):
            raise _bad(key, "must be text", raw)
        return raw.strip() or None
    if key in _LIST_KEYS:
        if not isinstance(raw, list | tuple) or not all(isinstance(x, str) for x in raw):
            raise _bad(key, "must be a list of names", raw)
        return tuple(dict.fromkeys(x.strip().lower() for x in raw if x.strip()))
    if key == "pregnancy_screen":
        if raw not in PREGNANCY_ANSWERS:
            raise _bad(key, f"must be one of {', '.join(PREGNANCY_ANSWERS)}", raw)
        return raw
    if key == "iv_gauge":
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise _bad(key, "must be a whole gauge number", raw)
        return raw
    raise AssertionError(key)  # every field is handled above


@dataclass(frozen=True)
class PatientFacts:
    """What the record says; None means unknown (then the pregnancy screen is asked)."""

    sex: str | None = None
    reproductive_potential: bool | None = None


@dataclass(frozen=True)
class StartOverride:
    """A charge nurse's release of the overridable blocking items, with a written reason."""

    user: str
    role: str
    reason: str
    at: datetime | None = None


# --- settings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemRule:
    """What a failed answer does (severity), whether it can be overridden, and why."""

    severity: str
    overridable: bool
    source: str | None


@dataclass(frozen=True)
class StartLimit:
    """One baseline-vitals limit for starting the infusion (values in resources/clinic/session.json)."""

    param: str
    op: str  # "above" (strictly greater) or "below" (strictly less)
    value: float
    source: str | None

    def violated_by(self, x: float) -> bool:
        return x > self.value if self.op == "above" else x < self.value


@dataclass(frozen=True)
class ChecklistSettings:
    """Checklist rules, NPO hours per session type and baseline start limits (session.json)."""

    rules: dict[str, ItemRule]
    override_min_reason_chars: int
    npo_hours: dict[str, tuple[float, float]]  # session type → (solids h, clear liquids h)
    npo_sources: tuple[str, ...]
    escort_phone_min_digits: int
    hard_findings: frozenset[str]
    caution_findings: frozenset[str]
    interacting_classes: tuple[str, ...]
    gauge_range: tuple[int, int]
    required_vitals: tuple[str, ...]
    hard_limits: tuple[StartLimit, ...]
    caution_limits: tuple[StartLimit, ...]
    session_types: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: ClinicSettings) -> ChecklistSettings:
        s = settings.section("session")
        c = s["checklist"]
        rules = {}
        for item in ITEM_IDS:
            severity = c[item]["severity"]
            if severity not in SEVERITIES:
                raise ConfigError("session", f"session.checklist.{item}.severity", "is invalid")
            rules[item] = ItemRule(
                severity=severity,
                overridable=bool(c[item]["overridable"]),
                source=settings.source(f"session.checklist.{item}.severity"),
            )

        def limits(tier: str) -> tuple[StartLimit, ...]:
            out = []
            for key, value in s["start_limits"][tier].items():
                param, _, op = key.rpartition("_")
                param = _VITAL_ALIASES.get(param, param)
                if op not in ("above", "below") or param not in _VITAL_NAMES:
                    raise ConfigError("session", f"session.start_limits.{tier}.{key}", "is unknown")
                path = f"session.start_limits.{tier}.{key}"
                out.append(StartLimit(param, op, float(value), settings.source(path)))
            return tuple(out)

        npo = c["npo"]
        gmin, gmax = int(c["iv_access"]["gauge_min"]), int(c["iv_access"]["gauge_max"])
        required = tuple(_VITAL_ALIASES.get(p, p) for p in c["baseline_vitals"]["required"])
        unknown = [p for p in required if p not in _VITAL_NAMES]
        if unknown or gmin > gmax:
            raise ConfigError("session", "session.checklist", "has unknown vitals or gauge range")
        return cls(
            rules=rules,
            override_min_reason_chars=int(c["override_min_reason_chars"]),
            npo_hours={
                "iv_ketamine": (
                    float(npo["solids_min_hours"]),
                    float(npo["clear_liquids_min_hours"]),
                ),
                "spravato": (
                    float(npo["spravato_solids_min_hours"]),
                    float(npo["spravato_clear_liquids_min_hours"]),
                ),
            },
            npo_sources=tuple(
                str(settings.source(f"session.checklist.npo.{k}"))
                for k in ("solids_min_hours", "clear_liquids_min_hours")
            ),
            escort_phone_min_digits=int(c["escort"]["phone_min_digits"]),
            hard_findings=frozenset(
                x.lower() for x in c["contraindication_screen"]["hard_findings"]
            ),
            caution_findings=frozenset(
                x.lower() for x in c["contraindication_screen"]["caution_findings"]
            ),
            interacting_classes=tuple(c["interacting_medications"]["classes"]),
            gauge_range=(gmin, gmax),
            required_vitals=required,
            hard_limits=limits("hard_stop"),
            caution_limits=limits("caution"),
            session_types=tuple(s["session_types"]),
        )


# --- result ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChecklistItem:
    """One evaluated item. `code` is set when it blocks: checklist_incomplete or criteria_not_met."""

    id: str
    label: str
    status: str
    message: str
    overridable: bool
    source: str | None = None
    overridden: bool = False

    @property
    def code(self) -> str | None:
        if self.status == MISSING:
            return CHECKLIST_INCOMPLETE
        if self.status == HARD_STOP:
            return CRITERIA_NOT_MET
        return None

    @property
    def blocking(self) -> bool:
        return self.status in (MISSING, HARD_STOP) and not self.overridden


@dataclass(frozen=True)
class ChecklistResult:
    """All items, and whether the infusion may start."""

    items: tuple[ChecklistItem, ...]
    override: StartOverride | None = None

    def item(self, item_id: str) -> ChecklistItem:
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(item_id)

    @property
    def blocking(self) -> tuple[ChecklistItem, ...]:
        return tuple(it for it in self.items if it.blocking)

    @property
    def warnings(self) -> tuple[ChecklistItem, ...]:
        return tuple(it for it in self.items if it.status == WARNING)

    @property
    def overridden(self) -> tuple[ChecklistItem, ...]:
        return tuple(it for it in self.items if it.overridden)

    @property
    def can_start(self) -> bool:
        return not self.blocking

    @property
    def override_would_release(self) -> bool:
        """True when something blocks and a charge-nurse override would release all of it."""
        return bool(self.blocking) and all(it.overridable for it in self.blocking)

    def raise_if_blocked(self) -> None:
        """DomainError checklist_incomplete (any missing answer) or criteria_not_met."""
        blocking = self.blocking
        if not blocking:
            return
        missing = [it for it in blocking if it.status == MISSING]
        code = CHECKLIST_INCOMPLETE if missing else CRITERIA_NOT_MET
        first = (missing or list(blocking))[0]
        more = len(blocking) - 1
        verb = "items also block" if more > 1 else "item also blocks"
        tail = f" ({more} more {verb} the start)" if more else ""
        raise DomainError(
            code,
            f"Cannot start the infusion: {first.message.rstrip('.')}{tail}.",
            field=first.id,
        )


# --- evaluation --------------------------------------------------------------------------


def _vital(vitals: Any, name: str) -> float | None:
    if vitals is None:
        return None
    names = (name, "pulse_rate") if name == "hr" else (name,)
    for n in names:
        v = vitals.get(n) if isinstance(vitals, Mapping) else getattr(vitals, n, None)
        if v is not None:
            return float(v)
    return None


def _fmt(x: float) -> str:
    return f"{x:.10g}"


def _hours(h: float) -> str:
    return f"{h:.1f}".rstrip("0").rstrip(".") + " h"


class _Builder:
    def __init__(self, cfg: ChecklistSettings) -> None:
        self.cfg = cfg
        self.items: list[ChecklistItem] = []

    def add(self, item_id: str, status: str, message: str, source: str | None = None) -> None:
        rule = self.cfg.rules[item_id]
        if status == HARD_STOP and rule.severity == WARNING:
            status = WARNING
        self.items.append(
            ChecklistItem(
                id=item_id,
                label=ITEM_LABELS[item_id],
                status=status,
                message=message,
                overridable=rule.overridable,
                source=source or rule.source,
            )
        )

    def failed(self, item_id: str) -> str:
        """The status a failed (answered but not acceptable) item gets."""
        return HARD_STOP if self.cfg.rules[item_id].severity == HARD_STOP else WARNING


def _yes_no(b: _Builder, item_id: str, answer: bool | None, what: str) -> None:
    if answer is None:
        b.add(item_id, MISSING, f"{what}: not answered.")
    elif answer:
        b.add(item_id, OK, f"{what}: yes.")
    else:
        b.add(item_id, b.failed(item_id), f"{what}: no.")


def _npo(b: _Builder, a: PreInfusionChecklist, now: datetime, session_type: str) -> None:
    solids_h, liquids_h = b.cfg.npo_hours.get(session_type, b.cfg.npo_hours["iv_ketamine"])
    missing, short = [], []
    for label, when, need in (
        ("last solids", a.last_solids_at, solids_h),
        ("last clear liquids", a.last_clear_liquids_at, liquids_h),
    ):
        if when is None:
            missing.append(f"time of {label} not recorded")
            continue
        if when > now:
            missing.append(f"time of {label} is in the future")
            continue
        ago = (now - when).total_seconds() / 3600.0
        if ago < need:
            short.append(f"{label} {_hours(ago)} ago (at least {_hours(need)} expected)")
    if missing:
        b.add("npo", MISSING, "; ".join(missing).capitalize() + ".")
    elif short:
        b.add("npo", b.failed("npo"), "; ".join(short).capitalize() + ".")
    else:
        b.add(
            "npo", OK, f"Fasting at least {_hours(solids_h)} solids, {_hours(liquids_h)} liquids."
        )


def _escort(b: _Builder, a: PreInfusionChecklist) -> None:
    digits = len(re.sub(r"\D", "", a.escort_phone or ""))
    need = b.cfg.escort_phone_min_digits
    if not a.escort_name or not a.escort_phone:
        gaps = [n for n, v in (("name", a.escort_name), ("phone", a.escort_phone)) if not v]
        b.add("escort", MISSING, f"Escort {' and '.join(gaps)} not recorded.")
    elif digits < need:
        b.add("escort", MISSING, f"Escort phone has {digits} digits: at least {need} expected.")
    else:
        b.add("escort", OK, f"Escort {a.escort_name}, {a.escort_phone}.")


def _pregnancy(b: _Builder, a: PreInfusionChecklist, patient: PatientFacts) -> None:
    potential = patient.reproductive_potential
    if potential is None and patient.sex is not None and patient.sex.lower() == "male":
        potential = False
    if potential is False:
        b.add("pregnancy_screen", OK, "Not applicable: no reproductive potential on record.")
    elif a.pregnancy_screen is None:
        b.add("pregnancy_screen", MISSING, "Pregnancy screen result not recorded.")
    elif a.pregnancy_screen == "negative":
        b.add("pregnancy_screen", OK, "Pregnancy screen negative.")
    elif a.pregnancy_screen == "positive":
        b.add(
            "pregnancy_screen",
            b.failed("pregnancy_screen"),
            "Pregnancy screen POSITIVE: do not start; refer to the prescriber.",
        )
    elif potential is True:
        b.add(
            "pregnancy_screen",
            MISSING,
            "The record says reproductive potential: a screen result is needed, not 'not applicable'.",
        )
    else:
        b.add("pregnancy_screen", OK, "Marked not applicable by the nurse.")


def _findings(b: _Builder, a: PreInfusionChecklist) -> None:
    item = "contraindication_screen"
    if not a.contraindications and not a.contraindications_screened:
        what = "not answered" if a.contraindications_screened is None else "not done"
        b.add(item, MISSING, f"Contraindication screen {what}.")
        return
    hard = [f for f in a.contraindications if f not in b.cfg.caution_findings]
    caution = [f for f in a.contraindications if f in b.cfg.caution_findings]
    if hard:
        unknown = [f for f in hard if f not in b.cfg.hard_findings]
        extra = " (unlisted findings count as contraindications)" if unknown else ""
        b.add(item, b.failed(item), f"Contraindication found: {', '.join(hard)}{extra}.")
    elif caution:
        b.add(item, WARNING, f"Use caution: {', '.join(caution)}.")
    else:
        b.add(item, OK, "No contraindication found.")


def _interacting(b: _Builder, a: PreInfusionChecklist) -> None:
    item = "interacting_medications"
    if not a.interacting_medications and not a.interacting_medications_screened:
        what = "not answered" if a.interacting_medications_screened is None else "not done"
        b.add(item, MISSING, f"Interacting-medication screen {what}.")
    elif a.interacting_medications:
        b.add(
            item,
            b.failed(item),
            f"Taken today: {', '.join(a.interacting_medications)}; review with the prescriber.",
        )
    else:
        b.add(item, OK, f"None taken today ({', '.join(b.cfg.interacting_classes)}).")


def _iv(b: _Builder, a: PreInfusionChecklist) -> None:
    lo, hi = b.cfg.gauge_range
    gaps = [
        n
        for n, v in (("site", a.iv_site), ("gauge", a.iv_gauge), ("patency", a.iv_patent))
        if v is None
    ]
    if gaps:
        b.add("iv_access", MISSING, f"IV {', '.join(gaps)} not recorded.")
    elif a.iv_gauge is not None and not lo <= a.iv_gauge <= hi:
        b.add("iv_access", MISSING, f"IV gauge {a.iv_gauge} G is implausible: allowed {lo}–{hi} G.")
    elif not a.iv_patent:
        b.add("iv_access", b.failed("iv_access"), "IV line not patent: re-site before starting.")
    else:
        b.add("iv_access", OK, f"{a.iv_gauge} G, {a.iv_site}, patent.")


def _baseline(b: _Builder, vitals: Any) -> None:
    item = "baseline_vitals"
    missing = [p for p in b.cfg.required_vitals if _vital(vitals, p) is None]
    hard: list[tuple[str, str, str]] = []  # (param, op, text)
    caution: list[tuple[str, str, str]] = []
    sources: list[str] = []
    for tier, out in ((b.cfg.hard_limits, hard), (b.cfg.caution_limits, caution)):
        for lim in tier:
            x = _vital(vitals, lim.param)
            if x is None or not lim.violated_by(x):
                continue
            # a value past a hard limit is not listed again as a caution
            if out is caution and any(h[0] == lim.param and h[1] == lim.op for h in hard):
                continue
            name, unit = _VITAL_NAMES[lim.param]
            out.append(
                (lim.param, lim.op, f"{name} {_fmt(x)} {unit} is {lim.op} {_fmt(lim.value)}")
            )
            sources.append(lim.source or "")
    notes = []
    if hard:
        notes.append("Start limit exceeded: " + "; ".join(h[2] for h in hard) + ".")
    if caution:
        notes.append("Caution: " + "; ".join(c[2] for c in caution) + ".")
    source = " | ".join(dict.fromkeys(s for s in sources if s)) or None
    if missing:
        names = ", ".join(_VITAL_NAMES[p][0] for p in missing)
        b.add(item, MISSING, " ".join([f"Baseline {names} not recorded.", *notes]), source)
    elif hard:
        b.add(item, b.failed(item), " ".join(notes), source)
    elif caution:
        b.add(item, WARNING, " ".join(notes), source)
    else:
        b.add(item, OK, "Baseline vitals within the start limits.")


def evaluate_checklist(
    answers: PreInfusionChecklist | Mapping[str, Any],
    baseline_vitals: Mapping[str, float | None] | Any | None,
    patient: PatientFacts | None,
    settings: ChecklistSettings | ClinicSettings,
    now: datetime,
    *,
    session_type: str = "iv_ketamine",
    override: StartOverride | None = None,
) -> ChecklistResult:
    """Evaluate every enabled item. `baseline_vitals` is a dict or an object with sbp, dbp, hr
    (or pulse_rate), spo2, rr attributes. An override without a written reason of at least
    `override_min_reason_chars` characters is refused with DomainError('bad_input')."""
    cfg = (
        settings
        if isinstance(settings, ChecklistSettings)
        else ChecklistSettings.from_settings(settings)
    )
    if session_type not in cfg.session_types:
        raise DomainError(
            BAD_INPUT,
            f"Unknown session type '{session_type}': allowed {', '.join(cfg.session_types)}.",
            field="session_type",
        )
    a = (
        answers
        if isinstance(answers, PreInfusionChecklist)
        else PreInfusionChecklist.from_answers(answers)
    )
    now = ensure_utc(now)
    if override is not None:
        _check_override(override, cfg)
    b = _Builder(cfg)
    _yes_no(b, "consent_confirmed", a.consent_confirmed, "Consent confirmed")
    _yes_no(b, "identity_two_identifiers", a.identity_two_identifiers, "Two identifiers checked")
    _npo(b, a, now, session_type)
    _escort(b, a)
    _pregnancy(b, a, patient or PatientFacts())
    _findings(b, a)
    _interacting(b, a)
    if session_type not in NO_IV_SESSION_TYPES:
        _iv(b, a)
    _baseline(b, baseline_vitals)
    items = [it for it in b.items if cfg.rules[it.id].severity != "off"]
    if override is not None:
        items = [
            replace(it, overridden=True)
            if it.status in (MISSING, HARD_STOP) and it.overridable
            else it
            for it in items
        ]
    return ChecklistResult(items=tuple(items), override=override)


def _check_override(override: StartOverride, cfg: ChecklistSettings) -> None:
    need = cfg.override_min_reason_chars
    if len((override.reason or "").strip()) < need:
        raise DomainError(
            BAD_INPUT,
            f"An override needs a written reason of at least {need} characters.",
            field="override.reason",
        )
    if not (override.user or "").strip() or not (override.role or "").strip():
        raise DomainError(
            BAD_INPUT, "An override must name the user and role who gave it.", field="override.user"
        )
