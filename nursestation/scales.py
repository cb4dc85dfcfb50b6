"""Sedation and dissociation scales used during sessions and at discharge.

The scale definitions (scores and their wording) are fixed published instruments, not clinic
settings, so they live here as data tables with their sources (clinical.md §5). The clinic-tunable
parts (discharge targets, how much CADSS rise still counts as resolved) come from
resources/clinic/vitals.json ("sedation", "dissociation").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from nursestation.clinic import ClinicSettings
from nursestation.errors import BAD_INPUT, OUT_OF_RANGE, DomainError


@dataclass(frozen=True)
class ScaleLevel:
    """One score of a single-rating scale and what it means."""

    score: int
    text: str


@dataclass(frozen=True)
class SedationScale:
    """A single-rating sedation/agitation scale."""

    key: str
    name: str
    min: int
    max: int
    levels: tuple[ScaleLevel, ...]
    source: str

    def level(self, score: int) -> ScaleLevel:
        """The level for `score`; DomainError out_of_range for anything else."""
        for lvl in self.levels:
            if lvl.score == score and not isinstance(score, bool):
                return lvl
        raise DomainError(
            OUT_OF_RANGE,
            f"{self.name} {score!r} is impossible: allowed whole numbers {_span(self.min, self.max)}.",
            field="sedation_score",
        )

    def choices(self) -> list[tuple[int, str]]:
        """(score, "score – wording") pairs, most alert first, for a picker."""
        return [(lvl.score, f"{_signed(self, lvl.score)} – {lvl.text}") for lvl in self.levels]


def _span(lo: int, hi: int) -> str:
    return f"{lo} to {hi:+d}" if lo < 0 else f"{lo}–{hi}"


def _signed(scale: SedationScale, score: int) -> str:
    return f"{score:+d}" if scale.min < 0 and score != 0 else str(score)


MOAAS = SedationScale(
    key="moaas",
    name="MOAA/S",
    min=0,
    max=5,
    levels=(
        ScaleLevel(5, "responds readily to name in a normal tone"),
        ScaleLevel(4, "lethargic response"),
        ScaleLevel(3, "responds only when name is called loudly and/or repeatedly"),
        ScaleLevel(2, "responds only after mild prodding/shaking"),
        ScaleLevel(1, "responds only after painful trapezius squeeze"),
        ScaleLevel(0, "no response to squeeze"),
    ),
    source="clinical.md §5: Modified Observer's Assessment of Alertness/Sedation [S33][S17]",
)

RASS = SedationScale(
    key="rass",
    name="RASS",
    min=-5,
    max=4,
    levels=(
        ScaleLevel(4, "combative"),
        ScaleLevel(3, "very agitated"),
        ScaleLevel(2, "agitated"),
        ScaleLevel(1, "restless"),
        ScaleLevel(0, "alert and calm"),
        ScaleLevel(-1, "drowsy (> 10 s eye contact to voice)"),
        ScaleLevel(-2, "light sedation (< 10 s eye contact to voice)"),
        ScaleLevel(-3, "moderate sedation (movement, no eye contact)"),
        ScaleLevel(-4, "deep sedation (responds only to physical stimulus)"),
        ScaleLevel(-5, "unarousable"),
    ),
    source="clinical.md §5: Richmond Agitation-Sedation Scale [S34]",
)

SEDATION_SCALES: dict[str, SedationScale] = {s.key: s for s in (MOAAS, RASS)}


@dataclass(frozen=True)
class CadssDefinition:
    """The 23-item CADSS as used in ketamine studies. Item wording is not embedded: licensing
    must be checked first (clinical.md §5 product notes)."""

    items: int
    item_min: int
    item_max: int
    anchors: Mapping[int, str]
    source: str

    @property
    def total_max(self) -> int:
        return self.items * self.item_max


CADSS = CadssDefinition(
    items=23,
    item_min=0,
    item_max=4,
    anchors={0: "not at all", 4: "extremely"},
    source="clinical.md §5: CADSS 23-item version, each item 0–4, total 0–92 [S35] [GK, derived]",
)


@dataclass(frozen=True)
class ScaleSettings:
    """Clinic-tunable targets: sedation resolved for discharge, CADSS rise still 'resolved'."""

    moaas_discharge_min: int
    rass_discharge_target: int
    cadss_max_rise_resolved: int

    @classmethod
    def from_settings(cls, settings: ClinicSettings | Mapping[str, Any]) -> ScaleSettings:
        """Build from ClinicSettings or the plain `vitals` section dict."""
        data = settings.section("vitals") if isinstance(settings, ClinicSettings) else settings
        return cls(
            moaas_discharge_min=int(data["sedation"]["moaas"]["discharge_min"]),
            rass_discharge_target=int(data["sedation"]["rass"]["discharge_target"]),
            cadss_max_rise_resolved=int(data["dissociation"]["cadss_max_rise_resolved"]),
        )


def sedation_scale(key: str) -> SedationScale:
    """The scale for "moaas" or "rass"; DomainError bad_input otherwise."""
    try:
        return SEDATION_SCALES[key]
    except KeyError:
        raise DomainError(
            BAD_INPUT,
            f"Sedation scale '{key}' is unknown: allowed {', '.join(SEDATION_SCALES)}.",
            field="sedation_scale",
        ) from None


def sedation_resolved(scale: str, score: int, settings: ScaleSettings) -> bool:
    """Sedation resolved for discharge: MOAA/S at or above the target (5), or RASS at the
    target (0) (clinical.md §4.4 item 3)."""
    sedation_scale(scale).level(score)
    if scale == "moaas":
        return score >= settings.moaas_discharge_min
    return score == settings.rass_discharge_target


def _check_int(value: Any, lo: int, hi: int, what: str, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise DomainError(
            OUT_OF_RANGE,
            f"{what} {value!r} is impossible: allowed whole numbers {lo}–{hi}.",
            field=field,
        )
    return value


def cadss_total(items: Sequence[int]) -> int:
    """Total of the 23 CADSS item scores (each 0–4)."""
    if len(items) != CADSS.items:
        raise DomainError(
            BAD_INPUT,
            f"CADSS needs {CADSS.items} item scores, got {len(items)}.",
            field="cadss_items",
        )
    for i, v in enumerate(items, start=1):
        _check_int(v, CADSS.item_min, CADSS.item_max, f"CADSS item {i}", "cadss_items")
    return sum(items)


@dataclass(frozen=True)
class DissociationCheck:
    """Whether dissociation has resolved, by CADSS total or by a clinician's yes/no."""

    method: Literal["cadss", "clinician"]
    resolved: bool
    text: str
    cadss_total: int | None = None
    baseline_total: int | None = None


def cadss_check(
    total: int, baseline_total: int | None, settings: ScaleSettings
) -> DissociationCheck:
    """Resolved when the CADSS total is back at or below the pre-dose total (0 when none was
    taken) plus the clinic's allowed rise. CADSS has no validated severity bands [S35]."""
    _check_int(total, 0, CADSS.total_max, "CADSS total", "cadss_total")
    if baseline_total is not None:
        _check_int(baseline_total, 0, CADSS.total_max, "CADSS pre-dose total", "cadss_baseline")
    base = baseline_total or 0
    ceiling = base + settings.cadss_max_rise_resolved
    resolved = total <= ceiling
    text = f"CADSS {total}/{CADSS.total_max} (pre-dose {base}): " + (
        "dissociation resolved" if resolved else f"not resolved (needs ≤ {ceiling})"
    )
    return DissociationCheck("cadss", resolved, text, total, baseline_total)


def clinician_check(resolved: bool) -> DissociationCheck:
    """A clinician's observation that dissociation has (or has not) resolved."""
    if not isinstance(resolved, bool):
        raise DomainError(BAD_INPUT, "Dissociation resolved must be yes or no.", field="resolved")
    text = (
        "Dissociation resolved (clinician check)"
        if resolved
        else ("Dissociation not resolved (clinician check)")
    )
    return DissociationCheck("clinician", resolved, text)
