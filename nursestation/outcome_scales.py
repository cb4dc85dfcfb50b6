"""Outcome measures over the course (PHQ-9, GAD-7, PCL-5), the C-SSRS screener, and the
in-session scales taken at clinic-set timepoints (CADSS, MOAA/S): items, ranges, totals, severity
bands, the safety screen, and the course trend with response and remission (issue 16).

Pure: the definitions come from the clinic's "scales" settings (resources/clinic/scales.json,
clinical.md §5, each number with its source); nothing here reads the database or the clock.
The sedation levels of MOAA/S and the CADSS item count live in nursestation.scales and are read
from there, so each fact has one home.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from nursestation.clinic import ClinicSettings
from nursestation.errors import BAD_INPUT, OUT_OF_RANGE, DomainError
from nursestation.scales import CADSS, MOAAS

PHQ9 = "phq9"
GAD7 = "gad7"
PCL5 = "pcl5"
CSSRS = "cssrs"
CADSS_KEY = "cadss"
MOAAS_KEY = "moaas"
# Stored in the outcome table (over the course); CADSS and MOAA/S are session assessments
# (app.vitals.record_assessment) that discharge also reads.
OUTCOME_SCALES: tuple[str, ...] = (PHQ9, GAD7, PCL5, CSSRS)
SESSION_SCALES: tuple[str, ...] = (CADSS_KEY, MOAAS_KEY)
ALL_SCALES: tuple[str, ...] = (*OUTCOME_SCALES, *SESSION_SCALES)
NAMES = {
    PHQ9: "PHQ-9",
    GAD7: "GAD-7",
    PCL5: "PCL-5",
    CSSRS: "C-SSRS screener",
    CADSS_KEY: "CADSS",
    MOAAS_KEY: "MOAA/S",
}
SELF_REPORT = "self_report"
CLINICIAN = "clinician"
ADMINISTERED = (SELF_REPORT, CLINICIAN)
_MIN_TIMEPOINT = re.compile(r"^min_(\d{1,3})$")

# C-SSRS risk levels, lowest first.
RISK_NONE, RISK_LOW, RISK_MODERATE, RISK_HIGH = "none", "low", "moderate", "high"
# Answer positions of the screener (1-based as the form numbers them): Q2 gates Q3-Q5, Q6 gates
# "within the past 3 months" (the 7th answer).
_CSSRS_Q2, _CSSRS_GATED, _CSSRS_Q6, _CSSRS_RECENT = 2, (3, 4, 5), 6, 7


@dataclass(frozen=True)
class ScaleDef:
    """One scale as the clinic configured it."""

    key: str
    name: str
    items: int
    item_min: int
    item_max: int
    item_labels: tuple[str, ...]  # the item text where the licence allows, else "Item n"
    texts_embedded: bool
    stem: str
    answer_labels: tuple[str, ...]
    band_lower: tuple[int, ...]
    band_labels: tuple[str, ...]
    timepoints: tuple[str, ...]
    administered: str
    licence: str
    licence_source: str
    loinc_total: str
    loinc_panel: str

    @property
    def total_max(self) -> int:
        """The highest possible total."""
        return self.items * self.item_max

    def item_label(self, n: int) -> str:
        """The label of item `n` (1-based)."""
        return self.item_labels[n - 1]

    def band(self, total: int) -> str:
        """The severity band of a total ("" for a scale without bands)."""
        label = ""
        for lower, text in zip(self.band_lower, self.band_labels, strict=True):
            if total >= lower:
                label = text
        return label


@dataclass(frozen=True)
class Scored:
    """A completed scale: the answers as given, the total, band and what the safety rules say."""

    scale: str
    answers: tuple[int | None, ...]
    total: int | None  # None for the C-SSRS screener (a risk level, no total)
    band: str
    safety_positive: bool
    safety_reason: str  # why the screen is positive ("" when it is not)

    def text(self) -> str:
        """One line: "PHQ-9 12 (moderate)" or "C-SSRS screener: high risk (Q4 yes)"."""
        name = NAMES[self.scale]
        if self.total is None:
            out = f"{name}: {risk_text(self.band)}"
        else:
            out = f"{name} {self.total}" + (f" ({self.band})" if self.band else "")
        return out + (f"; {self.safety_reason}" if self.safety_reason else "")


@dataclass(frozen=True)
class OutcomeSettings:
    """The clinic's scales, the course rules and who may record a safety assessment."""

    scales: Mapping[str, ScaleDef]
    timepoint_choices: tuple[str, ...]
    phq9_safety_item: int
    phq9_safety_positive_at: int
    gad7_screen_positive_at: int
    cssrs_high: tuple[int, ...]
    cssrs_moderate: tuple[int, ...]
    cssrs_low: tuple[int, ...]
    trend_scales: tuple[str, ...]
    response_fall_pct: float
    remission_scale: str
    remission_below: int
    safety_assessors: tuple[str, ...]
    safety_min_chars: int

    @classmethod
    def from_settings(cls, settings: ClinicSettings) -> OutcomeSettings:
        """Read the "scales" section (resources/clinic/scales.json)."""
        data = settings.section("scales")
        choices = tuple(data["timepoint_choices"])
        for tp in choices:
            if tp not in ("pre", "end", "discharge", "follow_up") and not _MIN_TIMEPOINT.match(tp):
                raise ValueError(f"scales.timepoint_choices: '{tp}' is not a timepoint")
        defs = {key: _scale_def(key, data[key]) for key in ALL_SCALES}
        for d in defs.values():
            bad = [tp for tp in d.timepoints if tp not in choices]
            if bad:
                raise ValueError(f"scales.{d.key}.timepoints: {bad} not in timepoint_choices")
        return cls(
            scales=defs,
            timepoint_choices=choices,
            phq9_safety_item=int(data[PHQ9]["safety_item"]),
            phq9_safety_positive_at=int(data[PHQ9]["safety_item_positive_at"]),
            gad7_screen_positive_at=int(data[GAD7]["screen_positive_at"]),
            cssrs_high=tuple(int(x) for x in data[CSSRS]["high_if_yes"]),
            cssrs_moderate=tuple(int(x) for x in data[CSSRS]["moderate_if_yes"]),
            cssrs_low=tuple(int(x) for x in data[CSSRS]["low_if_yes"]),
            trend_scales=tuple(data["course"]["trend_scales"]),
            response_fall_pct=float(data["course"]["response_fall_pct"]),
            remission_scale=str(data["course"]["remission_scale"]),
            remission_below=int(data["course"]["remission_below"]),
            safety_assessors=tuple(data["safety"]["assessors"]),
            safety_min_chars=int(data["safety"]["min_text_chars"]),
        )

    def scale(self, key: str) -> ScaleDef:
        """The definition of `key`; bad_input naming the known scales otherwise."""
        try:
            return self.scales[key]
        except KeyError:
            raise DomainError(
                BAD_INPUT,
                f"Scale '{key}' is unknown: allowed {', '.join(ALL_SCALES)}.",
                field="scale",
            ) from None


def _scale_def(key: str, d: Mapping[str, Any]) -> ScaleDef:
    if key == MOAAS_KEY:
        # One rating; its levels (and their wording) are the core's table in nursestation.scales.
        return ScaleDef(
            key=key,
            name=NAMES[key],
            items=1,
            item_min=MOAAS.min,
            item_max=MOAAS.max,
            item_labels=("MOAA/S rating",),
            texts_embedded=True,
            stem="",
            answer_labels=tuple(
                f"{lvl.score} {lvl.text}" for lvl in sorted(MOAAS.levels, key=lambda lvl: lvl.score)
            ),
            band_lower=tuple(lvl.score for lvl in sorted(MOAAS.levels, key=lambda x: x.score)),
            band_labels=tuple(lvl.text for lvl in sorted(MOAAS.levels, key=lambda x: x.score)),
            timepoints=tuple(d["timepoints"]),
            administered=str(d["administered"]),
            licence=str(d["licence"]),
            licence_source="",
            loinc_total="",
            loinc_panel="",
        )
    items = CADSS.items if key == CADSS_KEY else int(d["items"])
    texts = d.get("item_texts") or ()
    labels = d.get("item_labels") or ()
    embedded = bool(texts) and d["licence"] == "public_domain"
    if embedded:
        item_labels = tuple(str(t) for t in texts)
    elif labels:
        item_labels = tuple(str(t) for t in labels)
    else:
        item_labels = tuple(f"Item {n}" for n in range(1, items + 1))
    if len(item_labels) != items:
        raise ValueError(f"scales.{key}: {len(item_labels)} item labels for {items} items")
    lower = tuple(int(x) for x in d.get("band_lower", ()))
    band_labels = tuple(str(x) for x in d.get("band_labels", ()))
    if len(lower) != len(band_labels) or list(lower) != sorted(lower):
        raise ValueError(f"scales.{key}: band_lower and band_labels must pair up, ascending")
    return ScaleDef(
        key=key,
        name=NAMES[key],
        items=items,
        item_min=CADSS.item_min if key == CADSS_KEY else int(d["item_min"]),
        item_max=CADSS.item_max if key == CADSS_KEY else int(d["item_max"]),
        item_labels=item_labels,
        texts_embedded=embedded,
        stem=str(d.get("stem", "")),
        answer_labels=tuple(str(x) for x in d.get("answer_labels", ())),
        band_lower=lower,
        band_labels=band_labels,
        timepoints=tuple(d["timepoints"]),
        administered=str(d["administered"]),
        licence=str(d["licence"]),
        licence_source="",
        loinc_total=str(d.get("loinc_total", "")),
        loinc_panel=str(d.get("loinc_panel", "")),
    )


# ---------------------------------------------------------------- answers


def check_item(d: ScaleDef, n: int, value: Any) -> int:
    """One answer, whole number in the item's range; out_of_range naming the item and range."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not d.item_min <= value <= d.item_max
    ):
        raise DomainError(
            OUT_OF_RANGE,
            f"{d.name} item {n} ({_short(d.item_label(n))}) {value!r} is out of range: allowed "
            f"whole numbers {d.item_min}–{d.item_max}.",
            field=f"item_{n}",
        )
    return value


def _short(label: str, limit: int = 48) -> str:
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def applicable(d: ScaleDef, answers: Sequence[int | None]) -> tuple[bool, ...]:
    """Which items are asked given the answers so far: the C-SSRS asks Q3-Q5 only after a yes to
    Q2, and "within the past 3 months" only after a yes to Q6 (clinical.md §5 [S39])."""
    asked = [True] * d.items
    if d.key == CSSRS:
        q2 = answers[_CSSRS_Q2 - 1] if len(answers) >= _CSSRS_Q2 else None
        for n in _CSSRS_GATED:
            asked[n - 1] = q2 == 1
        q6 = answers[_CSSRS_Q6 - 1] if len(answers) >= _CSSRS_Q6 else None
        asked[_CSSRS_RECENT - 1] = q6 == 1
    return tuple(asked)


def check_draft(d: ScaleDef, answers: Sequence[Any]) -> tuple[int | None, ...]:
    """A half-filled scale: every given answer in range, unanswered items None."""
    if len(answers) > d.items:
        raise DomainError(
            BAD_INPUT, f"{d.name} has {d.items} items, got {len(answers)} answers.", field="items"
        )
    padded = list(answers) + [None] * (d.items - len(answers))
    return tuple(None if v is None else check_item(d, n, v) for n, v in enumerate(padded, 1))


def score(o: OutcomeSettings, key: str, answers: Sequence[Any]) -> Scored:
    """Check every answer and score a completed scale. An unasked C-SSRS question must be left
    unanswered; every asked item must be answered."""
    d = o.scale(key)
    given = check_draft(d, answers)
    asked = applicable(d, given)
    for n, (v, need) in enumerate(zip(given, asked, strict=True), 1):
        if need and v is None:
            raise DomainError(
                BAD_INPUT,
                f"{d.name} item {n} ({_short(d.item_label(n))}) is not answered.",
                field=f"item_{n}",
            )
        if not need and v is not None:
            raise DomainError(
                BAD_INPUT,
                f"{d.name} item {n} ({_short(d.item_label(n))}) is only asked after a yes to "
                f"question {_CSSRS_Q2 if n in _CSSRS_GATED else _CSSRS_Q6}: leave it empty.",
                field=f"item_{n}",
            )
    if key == CSSRS:
        return _score_cssrs(o, given)
    total = sum(v for v in given if v is not None)
    band = d.band(total)
    reason = ""
    if key == PHQ9:
        item = given[o.phq9_safety_item - 1]
        if item is not None and item >= o.phq9_safety_positive_at:
            reason = f"item {o.phq9_safety_item} (self-harm) positive ({item})"
    if key == GAD7 and total >= o.gad7_screen_positive_at:
        band = f"{band}, screen positive" if band else "screen positive"
    return Scored(key, given, total, band, bool(reason), reason)


def _score_cssrs(o: OutcomeSettings, given: tuple[int | None, ...]) -> Scored:
    yes = {n for n, v in enumerate(given, 1) if v == 1}
    level = RISK_NONE
    for rule, name in (
        (o.cssrs_low, RISK_LOW),
        (o.cssrs_moderate, RISK_MODERATE),
        (o.cssrs_high, RISK_HIGH),
    ):
        if yes & set(rule):
            level = name
    reason = ""
    if level == RISK_HIGH:
        hits = sorted(yes & set(o.cssrs_high))
        reason = "positive screen: " + ", ".join(_cssrs_q(n) for n in hits)
    return Scored(CSSRS, given, None, level, level == RISK_HIGH, reason)


def risk_text(level: str) -> str:
    """Words for a C-SSRS risk level: "high" -> "high risk", "none" -> "no risk identified"."""
    return "no risk identified" if level == RISK_NONE else f"{level} risk"


def _cssrs_q(n: int) -> str:
    return "Q6 within the past 3 months" if n == _CSSRS_RECENT else f"Q{n} yes"


def check_timepoint(o: OutcomeSettings, key: str, timepoint: str) -> str:
    """A timepoint the clinic set for this scale; bad_input naming the allowed ones."""
    d = o.scale(key)
    if timepoint not in d.timepoints:
        raise DomainError(
            BAD_INPUT,
            f"{d.name} timepoint '{timepoint}' is not one the clinic set: allowed "
            f"{', '.join(d.timepoints)}.",
            field="timepoint",
        )
    return timepoint


def timepoint_label(tp: str) -> str:
    """Words for a timepoint: "pre" -> "pre-infusion", "min_40" -> "+40 min"."""
    m = _MIN_TIMEPOINT.match(tp)
    if m:
        return f"+{int(m.group(1))} min"
    return {
        "pre": "pre-infusion",
        "end": "end of infusion",
        "discharge": "discharge",
        "follow_up": "follow-up",
    }.get(tp, tp.replace("_", " "))


# ---------------------------------------------------------------- the course


class CourseTotalLike(Protocol):
    """A session's total in the course (record.CourseTotal, or a CoursePoint)."""

    @property
    def session_id(self) -> int: ...
    @property
    def session_number(self) -> int: ...
    @property
    def at(self) -> datetime: ...
    @property
    def total(self) -> int: ...


@dataclass(frozen=True)
class CoursePoint:
    """One total of a trended scale at one session of the course."""

    session_id: int
    session_number: int
    at: datetime
    total: int


@dataclass(frozen=True)
class TrendPoint:
    """A course point with what it means against the course baseline."""

    session_id: int
    session_number: int
    at: datetime
    total: int
    change_pct: float | None  # fall from baseline in % (positive = better); None at baseline
    response: bool  # ≥ the clinic's fall from the course baseline
    remission: bool  # PHQ-9 below the clinic's remission cut-off
    first_response: bool  # the first session of the course where response is reached
    first_remission: bool


@dataclass(frozen=True)
class ScaleTrend:
    """The course of one scale: baseline and every session's total."""

    scale: str
    baseline: int | None
    points: tuple[TrendPoint, ...]

    @property
    def response_session(self) -> int | None:
        """The session number where response was first reached."""
        return next((p.session_number for p in self.points if p.first_response), None)

    @property
    def remission_session(self) -> int | None:
        """The session number where remission was first reached."""
        return next((p.session_number for p in self.points if p.first_remission), None)


def course_trend(o: OutcomeSettings, scale: str, points: Sequence[CourseTotalLike]) -> ScaleTrend:
    """Totals per session in order; the course baseline is the first one. Response: a fall of at
    least the clinic's percentage from the baseline (clinical.md §5, issue 16); remission:
    PHQ-9 below the clinic's cut-off. A baseline of 0 cannot fall: no response is marked."""
    ordered = sorted(points, key=lambda p: (p.at, p.session_id))
    if not ordered:
        return ScaleTrend(scale, None, ())
    base = ordered[0].total
    out: list[TrendPoint] = []
    seen_resp = seen_rem = False
    for i, p in enumerate(ordered):
        change = None if i == 0 or base == 0 else 100.0 * (base - p.total) / base
        resp = change is not None and change >= o.response_fall_pct
        rem = scale == o.remission_scale and p.total < o.remission_below
        out.append(
            TrendPoint(
                p.session_id,
                p.session_number,
                p.at,
                p.total,
                change,
                resp,
                rem,
                resp and not seen_resp,
                rem and not seen_rem,
            )
        )
        seen_resp |= resp
        seen_rem |= rem
    return ScaleTrend(scale, base, tuple(out))


def trend_text(t: TrendPoint, baseline: int | None) -> str:
    """ "baseline" or "−45 % from baseline 20; response; remission"."""
    if t.change_pct is None:
        return "course baseline"
    fall = t.change_pct
    sign = "−" if fall >= 0 else "+"
    parts = [f"{sign}{abs(fall):.0f} % from baseline {baseline}"]
    if t.response:
        parts.append("response")
    if t.remission:
        parts.append("remission")
    return "; ".join(parts)
