"""Discharge scoring (Modified Aldrete, PADSS, modified PADSS) and the composite ketamine-clinic
discharge checklist (clinical.md §4). Thresholds and bands come from the "discharge" settings
section (resources/clinic/discharge.json); the published item wording is the scale itself.

Scores are suggestions until the nurse confirms them: a `ScoreSheet` keeps, per item, the value
the system pre-filled from recorded data and the value the nurse entered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from fractions import Fraction
from typing import Any

from nursestation.clinic import ClinicSettings, ConfigError
from nursestation.clock import ensure_utc
from nursestation.errors import (
    BAD_INPUT,
    CRITERIA_NOT_MET,
    OBSERVATION_INCOMPLETE,
    OUT_OF_RANGE,
    DomainError,
)
from nursestation.scales import SEDATION_SCALES

SECTION = "discharge"
ALDRETE = "aldrete"
PADSS = "padss"
MODIFIED_PADSS = "modified_padss"
SCALES = (ALDRETE, PADSS, MODIFIED_PADSS)
SCALE_NAMES = {ALDRETE: "Modified Aldrete", PADSS: "PADSS", MODIFIED_PADSS: "Modified PADSS"}

# Scale definitions (not tunable): MOAA/S 0–5 [S33], RASS −5..+4 [S34], kept once in
# nursestation.scales (key, name, range and wording).
MOAAS_RANGE = (SEDATION_SCALES["moaas"].min, SEDATION_SCALES["moaas"].max)
RASS_RANGE = (SEDATION_SCALES["rass"].min, SEDATION_SCALES["rass"].max)

# Checklist ids this module knows how to evaluate, in clinical.md §4.4 order.
CHECKLIST_IDS = (
    "observation_time",
    "vitals_near_baseline",
    "spo2_room_air",
    "alert_oriented",
    "sedation_resolved",
    "dissociation_resolved",
    "steady_gait",
    "nausea_controlled",
    "oral_fluids",
    "iv_removed",
    "escort_present",
    "instructions_given",
    "suicide_recheck",
    "next_appointment",
    "score",
)


# --- the nurse's discharge answers ---------------------------------------------------------
#
# One name per fact (issue 14): an answer's key is the same word in the scenario file, in the
# stored assessments JSON ("discharge_checklist" rows), in DischargeInputs and, when the answer
# is itself a criterion, in discharge.json's checklist and discharge_overrides.criterion.

YES_NO = "yes_no"
TEXT = "text"


@dataclass(frozen=True)
class AnswerSpec:
    """One question the nurse answers at discharge: its key, its label and yes/no or text."""

    key: str
    label: str
    kind: str  # YES_NO | TEXT


# In this order the answers of a step or form are stored, and so listed in the note's
# assessment history (the golden notes freeze it).
ANSWERS: tuple[AnswerSpec, ...] = (
    AnswerSpec("alert_oriented", "Alert and oriented ×3", YES_NO),
    AnswerSpec("steady_gait", "Walks with a steady gait", YES_NO),
    AnswerSpec("upright_tolerated", "Tolerates upright posture", YES_NO),
    AnswerSpec("nausea_controlled", "Nausea or vomiting controlled", YES_NO),
    AnswerSpec("oral_fluids", "Tolerating oral fluids", YES_NO),
    AnswerSpec("iv_removed", "IV removed, site intact", YES_NO),
    AnswerSpec("escort_present", "Escort present", YES_NO),
    AnswerSpec("instructions_given", "Written instructions given", YES_NO),
    AnswerSpec("suicide_screen_positive", "Intake suicide screen positive", YES_NO),
    AnswerSpec("suicide_recheck_done", "Suicide risk re-checked", YES_NO),
    AnswerSpec("on_room_air", "On room air (no supplemental O2)", YES_NO),
    AnswerSpec("escort_name", "Escort name", TEXT),
    AnswerSpec("escort_relationship", "Escort relationship", TEXT),
    AnswerSpec("next_appointment", "Next appointment", TEXT),
)
ANSWER_KEYS: tuple[str, ...] = tuple(a.key for a in ANSWERS)
ANSWER_LABELS: dict[str, str] = {a.key: a.label for a in ANSWERS}

# Former answer keys -> the one name. Deprecated aliases, accepted until the next release in
# scenario files (docs/scenarios.md) and read for ever from rows stored before the rename.
ANSWER_ALIASES: dict[str, str] = {"gait_steady": "steady_gait"}


def canonical_answers(raw: Mapping[str, Any]) -> dict[str, Any]:
    """`raw` answers with every deprecated alias renamed to its one name, order kept; when both
    an alias and its one name are present the one name wins (it is the newer writing)."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = ANSWER_ALIASES.get(key, key)
        if name != key and name in raw:
            continue
        out[name] = value
    return out


# --- configuration -------------------------------------------------------------------------


@dataclass(frozen=True)
class ChecklistItem:
    """One item of the clinic's discharge checklist."""

    id: str
    label: str
    required: bool
    source: str | None = None


@dataclass(frozen=True)
class DischargeConfig:
    """Typed view of the "discharge" settings section."""

    score_used: str
    aldrete_threshold: int
    circulation_mode: str  # "mmHg" | "percent"
    circulation_measure: str  # "sbp" | "map"
    circulation_2_within_mmhg: float
    circulation_1_within_mmhg: float
    circulation_2_within_pct: float
    circulation_1_within_pct: float
    spo2_room_air_above_for_2: float
    spo2_above_for_1: float
    padss_threshold: int
    padss_2_within_pct: float
    padss_1_within_pct: float
    bleeding_scored_na_2: bool
    modified_padss_threshold: int
    vitals_near_baseline_rule: str
    vitals_near_baseline_params: tuple[str, ...]
    sedation_resolved_moaas: int
    sedation_resolved_rass: int
    checklist: tuple[ChecklistItem, ...]
    instructions: tuple[tuple[str, str], ...]  # (id, text) in file order

    @classmethod
    def from_settings(cls, settings: ClinicSettings) -> DischargeConfig:
        """Build from the merged clinic settings (checklist items keep their sources)."""
        section = settings.section(SECTION)
        sources = {
            item_id: settings.source(f"{SECTION}.checklist.{item_id}.required") or ""
            for item_id in section.get("checklist", {})
        }
        return cls.from_dict(section, sources)

    @classmethod
    def from_dict(
        cls, section: Mapping[str, Any], checklist_sources: Mapping[str, str] | None = None
    ) -> DischargeConfig:
        """Build from the plain-value "discharge" section dict."""
        try:
            a, p = section["aldrete"], section["padss"]
            items = []
            for item_id, raw in section["checklist"].items():
                if item_id not in CHECKLIST_IDS:
                    raise ConfigError(
                        SECTION,
                        f"{SECTION}.checklist.{item_id}",
                        "is not a checklist item this version can evaluate; known items: "
                        + ", ".join(CHECKLIST_IDS),
                    )
                items.append(
                    ChecklistItem(
                        id=item_id,
                        label=str(raw["label"]),
                        required=bool(raw["required"]),
                        source=(checklist_sources or {}).get(item_id) or None,
                    )
                )
            cfg = cls(
                score_used=str(section["score_used"]),
                aldrete_threshold=int(a["threshold"]),
                circulation_mode=str(a["circulation_mode"]),
                circulation_measure=str(a["circulation_measure"]),
                circulation_2_within_mmhg=float(a["circulation_2_within_mmhg"]),
                circulation_1_within_mmhg=float(a["circulation_1_within_mmhg"]),
                circulation_2_within_pct=float(a["circulation_2_within_pct"]),
                circulation_1_within_pct=float(a["circulation_1_within_pct"]),
                spo2_room_air_above_for_2=float(a["spo2_room_air_above_for_2"]),
                spo2_above_for_1=float(a["spo2_above_for_1"]),
                padss_threshold=int(p["threshold"]),
                padss_2_within_pct=float(p["vitals_2_within_pct"]),
                padss_1_within_pct=float(p["vitals_1_within_pct"]),
                bleeding_scored_na_2=bool(p["bleeding_scored_na_2"]),
                modified_padss_threshold=int(section["modified_padss"]["threshold"]),
                vitals_near_baseline_rule=str(section["vitals_near_baseline_rule"]),
                vitals_near_baseline_params=_near_baseline_params(
                    section["vitals_near_baseline_params"]
                ),
                sedation_resolved_moaas=int(section["sedation_resolved_moaas"]),
                sedation_resolved_rass=int(section["sedation_resolved_rass"]),
                checklist=tuple(items),
                instructions=tuple((k, str(v)) for k, v in section.get("instructions", {}).items()),
            )
        except KeyError as exc:
            raise ConfigError(SECTION, f"{SECTION}.{exc.args[0]}", "is required") from None
        if cfg.circulation_2_within_mmhg > cfg.circulation_1_within_mmhg:
            raise ConfigError(
                SECTION,
                f"{SECTION}.aldrete.circulation_2_within_mmhg",
                "must not exceed the 1 band",
            )
        if cfg.circulation_2_within_pct > cfg.circulation_1_within_pct:
            raise ConfigError(
                SECTION, f"{SECTION}.aldrete.circulation_2_within_pct", "must not exceed the 1 band"
            )
        if cfg.padss_2_within_pct > cfg.padss_1_within_pct:
            raise ConfigError(
                SECTION, f"{SECTION}.padss.vitals_2_within_pct", "must not exceed the 1 band"
            )
        return cfg

    def threshold(self, scale: str) -> int:
        """The discharge threshold of `scale`."""
        return {
            ALDRETE: self.aldrete_threshold,
            PADSS: self.padss_threshold,
            MODIFIED_PADSS: self.modified_padss_threshold,
        }[scale]

    def required_scales(self) -> tuple[str, ...]:
        """The score(s) the checklist requires ("both" = Aldrete and PADSS)."""
        return (ALDRETE, PADSS) if self.score_used == "both" else (self.score_used,)

    def instruction_lines(self) -> list[str]:
        """The written discharge instructions, one line each, in file order."""
        return [text for _, text in self.instructions]


# Vital signs the "vitals near baseline" criterion can compare: "bp" by the clinic's BP rule,
# the others as a percentage of their baseline (the PADSS vital-signs band).
NEAR_BASELINE_PARAMS = ("bp", "hr", "rr", "temp_c")


def _near_baseline_params(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(
            SECTION,
            f"{SECTION}.vitals_near_baseline_params",
            "must be a non-empty list of " + ", ".join(NEAR_BASELINE_PARAMS),
        )
    unknown = [p for p in raw if p not in NEAR_BASELINE_PARAMS]
    if unknown:
        raise ConfigError(
            SECTION,
            f"{SECTION}.vitals_near_baseline_params",
            f"has unknown {unknown!r}; allowed: " + ", ".join(NEAR_BASELINE_PARAMS),
        )
    return tuple(dict.fromkeys(str(p) for p in raw))


def min_observation_minutes(general: Mapping[str, Any], session_type: str) -> int:
    """Minimum observation for a session type from the "general" section values: the Spravato
    minimum (REMS ≥ 120 min) for Spravato sessions, the clinic minimum otherwise."""
    base = int(general["min_observation_min"])
    if session_type.strip().casefold() == "spravato":
        return max(base, int(general["spravato_min_observation_min"]))
    return base


# --- vitals and pre-fill helpers -----------------------------------------------------------


@dataclass(frozen=True)
class VitalSnapshot:
    """One set of vital signs (baseline or latest); any value may be missing."""

    taken_at: datetime | None = None
    sbp: float | None = None
    dbp: float | None = None
    hr: float | None = None
    rr: float | None = None
    spo2: float | None = None
    temp_c: float | None = None
    on_room_air: bool | None = None  # None = oxygen status not recorded

    @property
    def map(self) -> float | None:
        """Mean arterial pressure estimated as (SBP + 2·DBP) / 3."""
        if self.sbp is None or self.dbp is None:
            return None
        return (self.sbp + 2 * self.dbp) / 3


@dataclass(frozen=True)
class Suggestion:
    """A pre-filled item score with the data it was derived from."""

    score: int
    evidence: str


def _exact(x: float) -> Fraction:
    return Fraction(Decimal(str(x)))


def _pct_dev(baseline: float, latest: float) -> Fraction:
    """|latest − baseline| as an exact percentage of the baseline."""
    return abs(_exact(latest) - _exact(baseline)) * 100 / _exact(baseline)


def _num(x: float | Fraction) -> str:
    f = float(x)
    return str(int(f)) if f.is_integer() else f"{f:.1f}".rstrip("0").rstrip(".")


def _band(dev: Fraction, two: float, one: float) -> int:
    """2 within `two` (inclusive), 1 within `one` (inclusive), else 0."""
    if dev <= _exact(two):
        return 2
    if dev <= _exact(one):
        return 1
    return 0


def aldrete_circulation(
    config: DischargeConfig, baseline: VitalSnapshot, latest: VitalSnapshot
) -> Suggestion | None:
    """Aldrete circulation from the latest BP against the session baseline (mmHg or percent
    per the clinic setting); None when either BP is missing."""
    if config.circulation_measure == "map":
        label, base, now = "MAP", baseline.map, latest.map
    else:
        label, base, now = "SBP", baseline.sbp, latest.sbp
    if base is None or now is None or base <= 0:
        return None
    diff = _exact(now) - _exact(base)
    sign = "+" if diff >= 0 else "−"
    if config.circulation_mode == "percent":
        dev = _pct_dev(base, now)
        score = _band(dev, config.circulation_2_within_pct, config.circulation_1_within_pct)
        what = f"{sign}{_num(dev)} %"
    else:
        dev = abs(diff)
        score = _band(dev, config.circulation_2_within_mmhg, config.circulation_1_within_mmhg)
        what = f"{sign}{_num(dev)} mmHg"
    evidence = f"{label} {_num(now)} vs baseline {_num(base)} mmHg ({what})"
    return Suggestion(score, evidence)


def aldrete_spo2(config: DischargeConfig, latest: VitalSnapshot) -> Suggestion | None:
    """Aldrete O2 saturation from the latest SpO2: 2 above the room-air limit on room air; 1
    above the lower limit otherwise (on O2, on room air between the limits, or O2 status not
    recorded); 0 at or below the lower limit. None without an SpO2."""
    if latest.spo2 is None:
        return None
    spo2 = _exact(latest.spo2)
    air = {True: "on room air", False: "on supplemental O2", None: "O2 status not recorded"}[
        latest.on_room_air
    ]
    evidence = f"SpO2 {_num(latest.spo2)} % {air}"
    if latest.on_room_air is True and spo2 > _exact(config.spo2_room_air_above_for_2):
        return Suggestion(2, evidence)
    if spo2 > _exact(config.spo2_above_for_1):
        return Suggestion(1, evidence)
    return Suggestion(0, evidence)


_PADSS_VITALS = (("sbp", "SBP"), ("dbp", "DBP"), ("hr", "HR"), ("rr", "RR"), ("temp_c", "Temp"))


def padss_vital_signs(
    config: DischargeConfig, baseline: VitalSnapshot, latest: VitalSnapshot
) -> Suggestion | None:
    """PADSS vital signs: each of SBP, DBP, HR, RR and temperature present in both snapshots is
    compared as a percentage of its baseline; the worst one sets the score. None when no pair."""
    parts: list[str] = []
    worst: int | None = None
    for attr, label in _PADSS_VITALS:
        base, now = getattr(baseline, attr), getattr(latest, attr)
        if base is None or now is None or base <= 0:
            continue
        dev = _pct_dev(base, now)
        score = _band(dev, config.padss_2_within_pct, config.padss_1_within_pct)
        worst = score if worst is None else min(worst, score)
        parts.append(f"{label} {_num(now)} vs {_num(base)} ({_num(dev)} %)")
    if worst is None:
        return None
    return Suggestion(worst, "; ".join(parts))


# --- score items and sheets ----------------------------------------------------------------


@dataclass(frozen=True)
class ScoreItem:
    """One item of a discharge score: published wording for 2, 1 and 0."""

    id: str
    label: str
    level_2: str
    level_1: str
    level_0: str

    def wording(self, score: int) -> str:
        """The published wording of `score` (0, 1 or 2)."""
        return {2: self.level_2, 1: self.level_1, 0: self.level_0}[score]


def aldrete_items(config: DischargeConfig) -> tuple[ScoreItem, ...]:
    """Modified Aldrete, 5 items × 0–2 (clinical.md §4.1 [S31]); circulation in the clinic's
    mmHg or percent version."""
    if config.circulation_mode == "percent":
        u, c2, c1 = "%", config.circulation_2_within_pct, config.circulation_1_within_pct
    else:
        u, c2, c1 = "mmHg", config.circulation_2_within_mmhg, config.circulation_1_within_mmhg
    u_sp = u if u == "%" else f" {u}"
    s2, s1 = _num(config.spo2_room_air_above_for_2), _num(config.spo2_above_for_1)
    return (
        ScoreItem(
            "activity",
            "Activity",
            "Moves 4 extremities voluntarily or on command",
            "Moves 2 extremities",
            "Moves 0 extremities",
        ),
        ScoreItem(
            "respiration",
            "Respiration",
            "Breathes deeply and coughs freely",
            "Dyspnoea, shallow or limited breathing",
            "Apnoeic",
        ),
        ScoreItem(
            "circulation",
            "Circulation",
            f"BP ± {_num(c2)}{u_sp} of pre-anaesthetic level",
            f"BP ± {_num(c2)}–{_num(c1)}{u_sp} of pre-anaesthetic level",
            f"BP > ± {_num(c1)}{u_sp} of pre-anaesthetic level",
        ),
        ScoreItem(
            "consciousness",
            "Consciousness",
            "Fully awake",
            "Arousable on calling",
            "Not responding",
        ),
        ScoreItem(
            "o2_saturation",
            "O2 saturation",
            f"Maintains SpO2 > {s2}% on room air",
            f"Needs O2 to keep SpO2 > {s1}%",
            f"SpO2 < {s1}% even with O2",
        ),
    )


def _padss_vitals_item(config: DischargeConfig) -> ScoreItem:
    two, one = _num(config.padss_2_within_pct), _num(config.padss_1_within_pct)
    return ScoreItem(
        "vital_signs",
        "Vital signs (BP, HR, RR, temp)",
        f"Within {two}% of pre-op value",
        f"{two}–{one}% of pre-op value",
        f"> {one}% of pre-op value",
    )


_ACTIVITY_MENTAL = ScoreItem(
    "activity_mental_status",
    "Activity and mental status",
    "Oriented ×3 and steady gait",
    "Oriented ×3 or steady gait",
    "Neither",
)


def padss_items(config: DischargeConfig) -> tuple[ScoreItem, ...]:
    """PADSS (Chung), 5 items × 0–2 (clinical.md §4.2 [S32])."""
    return (
        _padss_vitals_item(config),
        _ACTIVITY_MENTAL,
        ScoreItem(
            "pain_nausea_vomiting",
            "Pain, nausea and/or vomiting",
            "Minimal",
            "Moderate, has needed treatment",
            "Severe, needs treatment",
        ),
        ScoreItem("surgical_bleeding", "Surgical bleeding", "Minimal", "Moderate", "Severe"),
        ScoreItem(
            "intake_output",
            "Intake and output",
            "Has had PO fluids and voided",
            "Has had PO fluids or voided",
            "Neither",
        ),
    )


def modified_padss_items(config: DischargeConfig) -> tuple[ScoreItem, ...]:
    """Modified PADSS as this product builds it, 5 items × 0–2, total 0–10.

    What the reference gives (clinical.md §4.2 [S32]): the modified PADSS "replaces intake/output
    with separate items": ambulation (steady gait without dizziness 2 / with assistance 1 /
    none or dizziness 0), nausea/vomiting and pain (minimal / moderate / severe each).
    What is assumed here: the other items are PADSS vital signs and activity/mental status, as the
    brief asks; the combined "pain, nausea and/or vomiting" item is dropped because it is split
    into the two separate items, and surgical bleeding is dropped because it does not apply in a
    ketamine clinic (§4.2). The threshold (≥ 9) is a clinic-policy default. The published Chung
    modified PADSS may differ (it is often quoted with surgical bleeding and without mental
    status) [GK, not verified]: check the original before relying on this composition.
    """
    return (
        _padss_vitals_item(config),
        _ACTIVITY_MENTAL,
        ScoreItem(
            "ambulation",
            "Ambulation",
            "Steady gait without dizziness",
            "With assistance",
            "None, or dizziness",
        ),
        ScoreItem("nausea_vomiting", "Nausea/vomiting", "Minimal", "Moderate", "Severe"),
        ScoreItem("pain", "Pain", "Minimal", "Moderate", "Severe"),
    )


def score_items(scale: str, config: DischargeConfig) -> tuple[ScoreItem, ...]:
    """The items of `scale` ("aldrete", "padss" or "modified_padss")."""
    if scale == ALDRETE:
        return aldrete_items(config)
    if scale == PADSS:
        return padss_items(config)
    if scale == MODIFIED_PADSS:
        return modified_padss_items(config)
    raise DomainError(
        BAD_INPUT, f"Unknown discharge score '{scale}': use {', '.join(SCALES)}.", field="scale"
    )


PENDING = "pending"  # nothing entered by the nurse yet
CONFIRMED = "confirmed"  # nurse entered the pre-filled value
CHANGED = "changed"  # nurse entered a different value than the pre-fill
ENTERED = "entered"  # nurse entered a value with no pre-fill


@dataclass(frozen=True)
class ItemEntry:
    """One score item: the system's pre-fill (if any) and the nurse's entry (if any)."""

    item_id: str
    label: str
    prefilled: int | None = None
    prefill_evidence: str = ""
    entered: int | None = None
    entered_by: str | None = None

    @property
    def origin(self) -> str:
        """pending, confirmed (pre-fill accepted), changed (pre-fill overruled) or entered."""
        if self.entered is None:
            return PENDING
        if self.prefilled is None:
            return ENTERED
        return CONFIRMED if self.entered == self.prefilled else CHANGED


@dataclass(frozen=True)
class ScoreSheet:
    """A discharge score being filled in: counts only what the nurse entered or confirmed."""

    scale: str
    entries: tuple[ItemEntry, ...]
    threshold: int

    @property
    def name(self) -> str:
        """Display name of the scale."""
        return SCALE_NAMES[self.scale]

    def entry(self, item_id: str) -> ItemEntry:
        """The entry for `item_id`; DomainError bad_input for an unknown item."""
        for e in self.entries:
            if e.item_id == item_id:
                return e
        known = ", ".join(e.item_id for e in self.entries)
        raise DomainError(
            BAD_INPUT,
            f"{self.name} has no item '{item_id}': items are {known}.",
            field="item",
        )

    def enter(self, item_id: str, score: int, by: str | None = None) -> ScoreSheet:
        """A copy with the nurse's `score` (0–2) for `item_id`."""
        if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 2:
            raise DomainError(
                OUT_OF_RANGE,
                f"{self.name} {self.entry(item_id).label} score {score!r} is impossible: "
                "allowed 0–2.",
                field=item_id,
            )
        old = self.entry(item_id)
        new = replace(old, entered=score, entered_by=by)
        return replace(self, entries=tuple(new if e is old else e for e in self.entries))

    def confirm(self, item_id: str, by: str | None = None) -> ScoreSheet:
        """A copy where the nurse accepts the pre-filled value of `item_id`."""
        e = self.entry(item_id)
        if e.prefilled is None:
            raise DomainError(
                BAD_INPUT,
                f"{self.name} {e.label} has no pre-filled value to confirm: enter a score 0–2.",
                field=item_id,
            )
        return self.enter(item_id, e.prefilled, by)

    @property
    def pending(self) -> tuple[str, ...]:
        """Item ids the nurse has not entered or confirmed yet."""
        return tuple(e.item_id for e in self.entries if e.entered is None)

    @property
    def complete(self) -> bool:
        """True when every item has a nurse-entered value."""
        return not self.pending

    @property
    def subtotal(self) -> int:
        """Sum of the entered items so far."""
        return sum(e.entered for e in self.entries if e.entered is not None)

    @property
    def total(self) -> int | None:
        """The total (0–10) once complete, else None."""
        return self.subtotal if self.complete else None

    @property
    def meets_threshold(self) -> bool:
        """Complete and total ≥ threshold."""
        return self.total is not None and self.total >= self.threshold


def new_sheet(scale: str, config: DischargeConfig) -> ScoreSheet:
    """An empty sheet of `scale` with the clinic threshold."""
    items = score_items(scale, config)
    return ScoreSheet(
        scale, tuple(ItemEntry(i.id, i.label) for i in items), config.threshold(scale)
    )


def _with_prefill(sheet: ScoreSheet, item_id: str, s: Suggestion | None) -> ScoreSheet:
    if s is None:
        return sheet
    old = sheet.entry(item_id)
    new = replace(old, prefilled=s.score, prefill_evidence=s.evidence)
    return replace(sheet, entries=tuple(new if e is old else e for e in sheet.entries))


def prefill_sheet(
    scale: str,
    config: DischargeConfig,
    baseline: VitalSnapshot | None,
    latest: VitalSnapshot | None,
) -> ScoreSheet:
    """A sheet of `scale` with the items recorded data can suggest already pre-filled
    (Aldrete circulation and SpO2; PADSS vital signs; surgical bleeding 2 = N/A when the clinic
    says so). Nothing counts until the nurse confirms or changes it."""
    sheet = new_sheet(scale, config)
    if scale == ALDRETE:
        if baseline is not None and latest is not None:
            sheet = _with_prefill(
                sheet, "circulation", aldrete_circulation(config, baseline, latest)
            )
        if latest is not None:
            sheet = _with_prefill(sheet, "o2_saturation", aldrete_spo2(config, latest))
    else:
        if baseline is not None and latest is not None:
            sheet = _with_prefill(sheet, "vital_signs", padss_vital_signs(config, baseline, latest))
        if scale == PADSS and config.bleeding_scored_na_2:
            sheet = _with_prefill(
                sheet, "surgical_bleeding", Suggestion(2, "not applicable (no surgery): scored 2")
            )
    return sheet


# --- discharge evaluation ------------------------------------------------------------------


@dataclass(frozen=True)
class SedationAssessment:
    """A sedation rating: MOAA/S 0–5 [S33] or RASS −5..+4 [S34]."""

    scale: str  # "moaas" | "rass"
    value: int
    at: datetime

    def __post_init__(self) -> None:
        ranges = {"moaas": MOAAS_RANGE, "rass": RASS_RANGE}
        if self.scale not in ranges:
            raise DomainError(
                BAD_INPUT,
                f"Unknown sedation scale '{self.scale}': use moaas or rass.",
                field="scale",
            )
        lo, hi = ranges[self.scale]
        if (
            isinstance(self.value, bool)
            or not isinstance(self.value, int)
            or not lo <= self.value <= hi
        ):
            name = SEDATION_SCALES[self.scale].name
            raise DomainError(
                OUT_OF_RANGE,
                f"{name} {self.value!r} is impossible: allowed {lo}–{hi}.",
                field=self.scale,
            )


@dataclass(frozen=True)
class Override:
    """A documented decision to accept an unmet criterion (applied only with a written reason
    and the name of who decided)."""

    criterion_id: str
    reason: str
    by: str
    at: datetime | None = None

    @property
    def valid(self) -> bool:
        """True when both a reason and a name are written."""
        return bool(self.reason.strip()) and bool(self.by.strip())


@dataclass(frozen=True)
class Criterion:
    """One checklist item's outcome with its evidence."""

    id: str
    label: str
    met: bool
    reason: str
    evidence: str
    required: bool = True
    override: Override | None = None

    @property
    def satisfied(self) -> bool:
        """Met, or overridden with a written reason."""
        return self.met or self.override is not None


@dataclass(frozen=True)
class DischargeInputs:
    """Everything recorded that the discharge checklist looks at.

    `observation_from` is when the infusion stopped (for a Spravato session, the dose time) and
    `observation_from_event` names it in messages ("the infusion stop", "the Spravato dose");
    `min_observation_min` comes from `min_observation_minutes(general, session_type)`.
    Vitals and sedation ratings taken before `observation_from` do not count as recovery
    evidence. `upright_required_by` lists drugs given this session after which the patient must
    tolerate upright posture (`Formulary.upright_required_by`)."""

    config: DischargeConfig
    min_observation_min: int
    observation_from: datetime | None
    observation_from_event: str = "the infusion stop"
    baseline: VitalSnapshot | None = None
    latest_vitals: VitalSnapshot | None = None
    alert_oriented: bool | None = None
    sedation: tuple[SedationAssessment, ...] = ()
    dissociation_resolved: bool | None = None
    dissociation_evidence: str = ""
    steady_gait: bool | None = None
    upright_required_by: tuple[str, ...] = ()
    upright_tolerated: bool | None = None
    nausea_controlled: bool | None = None
    oral_fluids: bool | None = None
    iv_removed: bool | None = None
    escort_present: bool = False
    escort_name: str | None = None
    escort_relationship: str | None = None
    instructions_given: bool = False
    suicide_screen_positive: bool | None = None
    suicide_recheck_done: bool | None = None
    next_appointment: str | None = None
    scores: tuple[ScoreSheet, ...] = ()
    overrides: tuple[Override, ...] = ()
    display_tz: tzinfo = field(default=UTC)


@dataclass(frozen=True)
class DischargeEvaluation:
    """The checklist outcome at `evaluated_at`; `ready` when every required item is satisfied."""

    evaluated_at: datetime
    criteria: tuple[Criterion, ...]
    ready: bool
    observation_complete_at: datetime | None
    ignored_overrides: tuple[Override, ...] = ()

    @property
    def failing(self) -> tuple[Criterion, ...]:
        """Required criteria neither met nor overridden, in checklist order."""
        return tuple(c for c in self.criteria if c.required and not c.satisfied)

    def criterion(self, criterion_id: str) -> Criterion:
        """The criterion with `criterion_id` (KeyError if the clinic does not use it)."""
        for c in self.criteria:
            if c.id == criterion_id:
                return c
        raise KeyError(criterion_id)

    def raise_if_not_ready(self) -> None:
        """Refuse discharge: observation_incomplete while the observation time runs, else
        criteria_not_met naming every failing item."""
        failing = self.failing
        if not failing:
            return
        obs = [c for c in failing if c.id == "observation_time"]
        if obs:
            raise DomainError(OBSERVATION_INCOMPLETE, obs[0].reason, field="observation_time")
        listed = "; ".join(f"{c.label}: {c.reason}" for c in failing)
        raise DomainError(
            CRITERIA_NOT_MET, f"Discharge criteria not met — {listed}", field=failing[0].id
        )


def _fmt_time(when: datetime, now: datetime, tz: tzinfo) -> str:
    local = when.astimezone(tz)
    same_day = local.date() == now.astimezone(tz).date()
    text = local.strftime("%H:%M") if same_day else local.strftime("%Y-%m-%d %H:%M")
    return f"{text} {local.tzname() or ''}".rstrip()


def _yes(flag: bool | None, yes: str, no: str, unknown: str) -> tuple[bool, str]:
    if flag is True:
        return True, yes
    if flag is False:
        return False, no
    return False, unknown


# Criteria that are the nurse's yes/no answer of the same name: (met, not met, not answered).
_YES_NO_CRITERIA: dict[str, tuple[str, str, str]] = {
    "alert_oriented": (
        "Alert and oriented ×3.",
        "Not alert and oriented ×3.",
        "Orientation has not been assessed.",
    ),
    "nausea_controlled": (
        "Nausea and vomiting controlled.",
        "Nausea or vomiting is not controlled.",
        "Nausea has not been assessed.",
    ),
    "oral_fluids": (
        "Tolerating oral fluids.",
        "Not tolerating oral fluids.",
        "Oral fluids have not been tried.",
    ),
    "iv_removed": (
        "IV removed, site intact.",
        "The IV is still in place or the site is not intact.",
        "IV removal has not been documented.",
    ),
}

_NEAR_LABELS = {"sbp": "SBP", "dbp": "DBP", "hr": "HR", "rr": "RR", "temp_c": "Temp"}


class _Evaluator:
    """Computes one criterion per checklist id from the inputs."""

    def __init__(self, inputs: DischargeInputs, now: datetime) -> None:
        self.i = inputs
        self.c = inputs.config
        self.now = now
        self.tz = inputs.display_tz
        self.since = ensure_utc(inputs.observation_from) if inputs.observation_from else None

    def t(self, when: datetime) -> str:
        return _fmt_time(when, self.now, self.tz)

    def observation_complete_at(self) -> datetime | None:
        if self.since is None:
            return None
        return self.since + timedelta(minutes=self.i.min_observation_min)

    def observation_time(self) -> tuple[bool, str, str]:
        need = self.i.min_observation_min
        event = self.i.observation_from_event
        if self.since is None:
            return (
                False,
                f"The observation period has not started: {event} has not been recorded.",
                "",
            )
        done_at = self.since + timedelta(minutes=need)
        elapsed = self.now - self.since
        elapsed_min = max(0, math.floor(elapsed.total_seconds() / 60))
        evidence = f"{event} at {self.t(self.since)}; {elapsed_min} min elapsed"
        if self.now >= done_at:
            return (
                True,
                f"{elapsed_min} min have elapsed since {event} (minimum {need} min).",
                evidence,
            )
        left = math.ceil((done_at - self.now).total_seconds() / 60)
        return (
            False,
            f"{need} min of observation are required after {event} at {self.t(self.since)}: "
            f"they will have elapsed at {self.t(done_at)} (in {left} min).",
            evidence,
        )

    def _recovery_vitals(self) -> tuple[VitalSnapshot | None, str]:
        latest = self.i.latest_vitals
        if latest is None:
            return None, "No vital signs have been recorded."
        taken = latest.taken_at
        if taken is not None and self.since is not None and ensure_utc(taken) < self.since:
            return None, (
                f"The latest vital signs ({self.t(taken)}) were taken before "
                f"{self.i.observation_from_event} at {self.t(self.since)}."
            )
        return latest, ""

    def vitals_near_baseline(self) -> tuple[bool, str, str]:
        """BP by the clinic's rule (Aldrete band and/or PADSS percent), then each other listed
        vital sign (by default HR and RR: the PADSS vital-signs item covers BP, HR and RR) as a
        percentage of its baseline. A listed sign missing from the baseline or from the
        recovery readings fails: "near baseline" cannot be shown without it."""
        latest, why = self._recovery_vitals()
        if latest is None:
            return False, why, ""
        base = self.i.baseline
        if base is None:
            return False, "No baseline vital signs were recorded.", ""
        checks: list[tuple[str, Suggestion | None, str]] = []
        params = self.c.vitals_near_baseline_params
        pct_band = f"within {_num(self.c.padss_2_within_pct)} %"
        if "bp" in params:
            rule = self.c.vitals_near_baseline_rule
            if rule == "score_used":
                scales = self.c.required_scales()
                use_aldrete = ALDRETE in scales
                use_padss = any(s in (PADSS, MODIFIED_PADSS) for s in scales)
            else:
                use_aldrete = rule in ("aldrete_circulation", "both")
                use_padss = rule in ("padss_percent", "both")
            if use_aldrete:
                band = (
                    f"± {_num(self.c.circulation_2_within_pct)} %"
                    if self.c.circulation_mode == "percent"
                    else f"± {_num(self.c.circulation_2_within_mmhg)} mmHg"
                )
                checks.append(("BP", aldrete_circulation(self.c, base, latest), band))
            if use_padss:
                checks.append(("BP", self._percent(("sbp", "dbp"), base, latest), pct_band))
        for param in params:
            if param != "bp":
                label = _NEAR_LABELS[param]
                checks.append((label, self._percent((param,), base, latest), pct_band))
        evidence = "; ".join(s.evidence for _, s, _ in checks if s is not None)
        for what, s, band in checks:
            if s is None:
                return (
                    False,
                    f"No {what} pair (baseline and since {self.i.observation_from_event}) "
                    "to compare.",
                    evidence,
                )
            if s.score < 2:
                return False, f"{what} not {band} of baseline: {s.evidence}.", evidence
        return True, "Vital signs are near baseline.", evidence

    def _percent(
        self, attrs: tuple[str, ...], base: VitalSnapshot, latest: VitalSnapshot
    ) -> Suggestion | None:
        """The worst PADSS percent band over `attrs`; None when any of them lacks a pair."""
        parts: list[str] = []
        worst = 2
        for attr in attrs:
            b, n = getattr(base, attr), getattr(latest, attr)
            if b is None or n is None or b <= 0:
                return None
            dev = _pct_dev(b, n)
            worst = min(worst, _band(dev, self.c.padss_2_within_pct, self.c.padss_1_within_pct))
            sign = "+" if _exact(n) >= _exact(b) else "−"
            parts.append(
                f"{_NEAR_LABELS[attr]} {_num(n)} vs baseline {_num(b)} ({sign}{_num(dev)} %)"
            )
        return Suggestion(worst, "; ".join(parts))

    def spo2_room_air(self) -> tuple[bool, str, str]:
        latest, why = self._recovery_vitals()
        if latest is None:
            return False, why, ""
        if latest.spo2 is None:
            return False, "No SpO2 has been recorded.", ""
        limit = self.c.spo2_room_air_above_for_2
        evidence = aldrete_spo2(self.c, latest)
        ev = evidence.evidence if evidence else ""
        if latest.on_room_air is not True:
            status = (
                "on supplemental O2"
                if latest.on_room_air is False
                else "not recorded as on room air"
            )
            return False, f"SpO2 {_num(latest.spo2)} % is {status}.", ev
        if _exact(latest.spo2) > _exact(limit):
            return True, f"SpO2 {_num(latest.spo2)} % on room air (above {_num(limit)} %).", ev
        # "or at baseline" (§4.4): a patient whose room-air baseline is ≤ the limit may go home
        # once back to it; a baseline taken on O2 does not count.
        b = self.i.baseline
        base = b.spo2 if b is not None and b.on_room_air is not False else None
        if base is not None and _exact(latest.spo2) >= _exact(base):
            return (
                True,
                f"SpO2 {_num(latest.spo2)} % on room air is at baseline ({_num(base)} %).",
                ev,
            )
        return (
            False,
            f"SpO2 {_num(latest.spo2)} % on room air is not above {_num(limit)} % nor at baseline.",
            ev,
        )

    def sedation_resolved(self) -> tuple[bool, str, str]:
        ratings = [
            s for s in self.i.sedation if self.since is None or ensure_utc(s.at) >= self.since
        ]
        if not ratings:
            return (
                False,
                f"No sedation rating (MOAA/S or RASS) since {self.i.observation_from_event}.",
                "",
            )
        latest: dict[str, SedationAssessment] = {}
        for s in sorted(ratings, key=lambda r: ensure_utc(r.at)):
            latest[s.scale] = s
        targets = {"moaas": self.c.sedation_resolved_moaas, "rass": self.c.sedation_resolved_rass}
        names = {k: s.name for k, s in SEDATION_SCALES.items()}
        parts = [f"{names[k]} {v.value} at {self.t(v.at)}" for k, v in latest.items()]
        evidence = "; ".join(parts)
        bad = [k for k, v in latest.items() if v.value != targets[k]]
        if bad:
            k = bad[0]
            return (
                False,
                f"Latest {names[k]} is {latest[k].value}; sedation is resolved at {names[k]} "
                f"{targets[k]}.",
                evidence,
            )
        return True, "Sedation resolved: " + evidence + ".", evidence

    def dissociation_resolved(self) -> tuple[bool, str, str]:
        met, reason = _yes(
            self.i.dissociation_resolved,
            "Dissociation resolved.",
            "Dissociation has not resolved.",
            "Dissociation has not been checked.",
        )
        return met, reason, self.i.dissociation_evidence

    def steady_gait(self) -> tuple[bool, str, str]:
        met, reason = _yes(
            self.i.steady_gait,
            "Walks with a steady gait.",
            "Gait is not steady.",
            "Gait has not been assessed.",
        )
        evidence = ""
        if self.i.upright_required_by:
            drugs = ", ".join(self.i.upright_required_by)
            evidence = f"given this session: {drugs}"
            if self.i.upright_tolerated is not True:
                state = (
                    "was not tolerated"
                    if self.i.upright_tolerated is False
                    else "has not been checked"
                )
                return (
                    False,
                    f"After {drugs} the patient must tolerate upright posture, which {state}.",
                    evidence,
                )
            if met:
                reason = "Walks with a steady gait and tolerates upright posture."
        return met, reason, evidence

    def yes_no(self, criterion_id: str) -> tuple[bool, str, str]:
        """A criterion that is the nurse's yes/no answer of the same name (_YES_NO_CRITERIA)."""
        met, reason = _yes(getattr(self.i, criterion_id), *_YES_NO_CRITERIA[criterion_id])
        return met, reason, ""

    def escort_present(self) -> tuple[bool, str, str]:
        name = (self.i.escort_name or "").strip()
        rel = (self.i.escort_relationship or "").strip()
        evidence = f"{name} ({rel})" if name and rel else name
        if not name:
            return False, "No escort name has been recorded.", ""
        if not self.i.escort_present:
            return False, f"The escort {name} is not recorded as present.", evidence
        suffix = "" if rel else " (relationship not recorded)"
        return True, f"Escort present: {name}{suffix}.", evidence

    def instructions_given(self) -> tuple[bool, str, str]:
        if self.i.instructions_given:
            return (
                True,
                "Written discharge instructions given.",
                " / ".join(self.c.instruction_lines()),
            )
        return False, "Written discharge instructions have not been given.", ""

    def suicide_recheck(self) -> tuple[bool, str, str]:
        pos = self.i.suicide_screen_positive
        if pos is False:
            return (
                True,
                "Intake suicide screen was negative; no re-check needed.",
                "intake screen negative",
            )
        if pos is None:
            return False, "The intake suicide screen result has not been recorded.", ""
        if self.i.suicide_recheck_done:
            return (
                True,
                "Suicide risk re-checked before leaving.",
                "intake screen positive; re-checked",
            )
        return (
            False,
            "The intake suicide screen was positive and risk has not been re-checked.",
            "intake screen positive",
        )

    def next_appointment(self) -> tuple[bool, str, str]:
        appt = (self.i.next_appointment or "").strip()
        if appt:
            return True, f"Next appointment: {appt}.", appt
        return False, "No next appointment has been given.", ""

    def score(self) -> tuple[bool, str, str]:
        sheets = {s.scale: s for s in self.i.scores}
        reasons: list[str] = []
        evidence: list[str] = []
        for scale in self.c.required_scales():
            name = SCALE_NAMES[scale]
            threshold = self.c.threshold(scale)
            sheet = sheets.get(scale)
            if sheet is None:
                reasons.append(f"{name} has not been scored")
                continue
            if not sheet.complete:
                reasons.append(f"{name} items not confirmed: {', '.join(sheet.pending)}")
                continue
            evidence.append(f"{name} {sheet.total}/10 (threshold {threshold})")
            if sheet.subtotal < threshold:
                reasons.append(f"{name} {sheet.subtotal}/10 is below the threshold of {threshold}")
        if reasons:
            return False, "; ".join(reasons) + ".", "; ".join(evidence)
        return True, "; ".join(evidence) + ".", "; ".join(evidence)


def evaluate_discharge(inputs: DischargeInputs, now: datetime) -> DischargeEvaluation:
    """Evaluate every clinic checklist item at `now`: one Criterion each, with why it is or is
    not met and the evidence used. Overrides apply only with a written reason and a name."""
    now = ensure_utc(now)
    ev = _Evaluator(inputs, now)
    known = {item.id for item in inputs.config.checklist}
    overrides: dict[str, Override] = {}
    ignored: list[Override] = []
    for o in inputs.overrides:
        if o.criterion_id not in known:
            raise DomainError(
                BAD_INPUT,
                f"Cannot override '{o.criterion_id}': the checklist items are "
                f"{', '.join(item.id for item in inputs.config.checklist)}.",
                field="criterion_id",
            )
        if o.valid:
            overrides[o.criterion_id] = o
        else:
            ignored.append(o)
    criteria: list[Criterion] = []
    for item in inputs.config.checklist:
        if item.id in _YES_NO_CRITERIA:
            met, reason, evidence = ev.yes_no(item.id)
        else:
            met, reason, evidence = getattr(ev, item.id)()
        criteria.append(
            Criterion(
                id=item.id,
                label=item.label,
                met=met,
                reason=reason,
                evidence=evidence,
                required=item.required,
                override=None if met else overrides.get(item.id),
            )
        )
    ready = all(c.satisfied for c in criteria if c.required)
    return DischargeEvaluation(
        evaluated_at=now,
        criteria=tuple(criteria),
        ready=ready,
        observation_complete_at=ev.observation_complete_at(),
        ignored_overrides=tuple(ignored),
    )
