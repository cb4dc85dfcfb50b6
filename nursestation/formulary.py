"""The clinic formulary: session (PRN) medications and the ketamine infusion, built from the
"formulary" settings section (resources/clinic/formulary.json). No number lives here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nursestation.clinic import ClinicSettings, ConfigError
from nursestation.errors import NOT_FOUND, DomainError

SECTION = "formulary"
DRUG_CLASSES = ("anti_nausea", "antihypertensive", "anxiolytic", "infusion")

# Fields whose "source" text is kept on the Drug so the UI can show why a limit is what it is.
_SOURCED_FIELDS = (
    "indications",
    "routes",
    "usual_dose",
    "soft_max_single",
    "hard_max_single",
    "min_interval_min",
    "cumulative_max",
    "reassess_min",
    "upright_check_routes",
    "caution",
)


@dataclass(frozen=True)
class Drug:
    """One formulary drug with its dose limits (all in `unit`) and reassessment schedule."""

    key: str
    name: str
    drug_class: str
    indications: tuple[str, ...]
    routes: tuple[str, ...]
    unit: str
    usual_dose: float
    soft_max_single: float
    hard_max_single: float
    min_interval_min: int
    cumulative_max: float
    reassess_min: tuple[int, ...]
    reassess_measure: str
    caution: str
    synonyms: tuple[str, ...] = ()
    allergy_classes: tuple[str, ...] = ()
    upright_check_routes: tuple[str, ...] = ()
    enabled: bool = True
    reassess_overdue_after_min: int = 0
    sources: tuple[tuple[str, str], ...] = ()

    @property
    def has_soft_band(self) -> bool:
        """True when doses between the soft and hard maximum need a confirmed reason."""
        return self.soft_max_single < self.hard_max_single

    def source(self, field_name: str) -> str | None:
        """Where the value of `field_name` comes from (None when the settings gave no source)."""
        return dict(self.sources).get(field_name)

    @property
    def needs_bp(self) -> bool:
        """Whether a dose needs the blood pressure measured before it: an antihypertensive, or a
        drug given for a BP above its limit (labetalol [S48], clinical.md §3.2)."""
        return self.drug_class == "antihypertensive" or "bp_above_limit" in self.indications

    def allows_route(self, route: str) -> bool:
        """Whether `route` (case-insensitive) is one of the drug's allowed routes."""
        return normalize_route(route) in self.routes

    def needs_upright_check(self, route: str) -> bool:
        """Whether giving the drug by `route` means the patient must tolerate upright posture
        before discharge (IV labetalol [S48])."""
        return normalize_route(route) in self.upright_check_routes

    def allergy_terms(self) -> tuple[str, ...]:
        """Every name an allergy entry may use for this drug: generic, brands, pharmacological
        classes and the clinic class ("anti nausea"); not "infusion", which would match
        unrelated entries such as "iron infusion reaction"."""
        usage = () if self.drug_class == "infusion" else (self.drug_class.replace("_", " "),)
        return (self.key, self.name, *self.synonyms, *self.allergy_classes, *usage)


def normalize_route(route: str) -> str:
    """Routes are compared upper-case without surrounding spaces ("iv " == "IV")."""
    return route.strip().upper()


@dataclass(frozen=True)
class Formulary:
    """The clinic's drugs, in the order the settings list them."""

    drugs: tuple[Drug, ...]

    @classmethod
    def from_settings(cls, settings: ClinicSettings) -> Formulary:
        """Build the formulary from the merged clinic settings (keeps each number's source)."""
        section = settings.section(SECTION)
        sources: dict[str, dict[str, str]] = {}
        for key in section.get("drugs", {}):
            per_drug: dict[str, str] = {}
            for f in _SOURCED_FIELDS:
                path = f"{SECTION}.drugs.{key}.{f}"
                if path in settings.settings and settings.source(path):
                    per_drug[f] = str(settings.source(path))
            sources[key] = per_drug
        return cls.from_dict(section, sources)

    @classmethod
    def from_dict(
        cls, section: Mapping[str, Any], sources: Mapping[str, Mapping[str, str]] | None = None
    ) -> Formulary:
        """Build the formulary from the plain-value "formulary" section dict."""
        overdue = int(section.get("reassessment_overdue_after_min", 0))
        drugs = tuple(
            _drug_from_dict(key, raw, overdue, (sources or {}).get(key, {}))
            for key, raw in section.get("drugs", {}).items()
        )
        return cls(drugs)

    def get(self, key_or_name: str) -> Drug:
        """The drug by key, display name or brand (case-insensitive); DomainError not_found."""
        wanted = key_or_name.strip().casefold()
        for drug in self.drugs:
            names = (drug.key, drug.name, *drug.synonyms)
            if wanted in (n.casefold() for n in names):
                return drug
        known = ", ".join(d.key for d in self.drugs)
        raise DomainError(
            NOT_FOUND,
            f"Drug '{key_or_name}' is not in the clinic formulary: known drugs are {known}.",
            field="drug",
        )

    def enabled(self) -> list[Drug]:
        """Drugs the clinic has enabled."""
        return [d for d in self.drugs if d.enabled]

    def drugs_for_indication(self, indication: str) -> list[Drug]:
        """Enabled drugs listing `indication` (e.g. "nausea", "bp_above_limit"), in formulary order."""
        wanted = indication.strip().casefold()
        return [d for d in self.enabled() if wanted in (i.casefold() for i in d.indications)]

    def indications(self) -> list[str]:
        """Every indication of an enabled drug, each once, in formulary order."""
        seen: dict[str, None] = {}
        for d in self.enabled():
            for i in d.indications:
                seen.setdefault(i, None)
        return list(seen)

    def upright_required_by(self, given: Iterable[tuple[str, str]]) -> tuple[str, ...]:
        """Names of drugs among `given` (drug key or name, route) after which the patient must
        tolerate upright posture before discharge; feed it to the discharge inputs."""
        out: dict[str, None] = {}
        for drug_name, route in given:
            drug = self.get(drug_name)
            if drug.needs_upright_check(route):
                out.setdefault(f"{drug.name} {normalize_route(route)}", None)
        return tuple(out)


def _drug_from_dict(
    key: str, raw: Mapping[str, Any], overdue_after_min: int, sources: Mapping[str, str]
) -> Drug:
    where = f"{SECTION}.drugs.{key}"
    try:
        drug = Drug(
            key=key,
            name=str(raw["name"]),
            drug_class=str(raw["class"]),
            indications=tuple(str(i) for i in raw["indications"]),
            routes=tuple(normalize_route(r) for r in raw["routes"]),
            unit=str(raw["unit"]),
            usual_dose=float(raw["usual_dose"]),
            soft_max_single=float(raw["soft_max_single"]),
            hard_max_single=float(raw["hard_max_single"]),
            min_interval_min=int(raw["min_interval_min"]),
            cumulative_max=float(raw["cumulative_max"]),
            reassess_min=tuple(sorted(int(m) for m in raw.get("reassess_min", []))),
            reassess_measure=str(raw.get("reassess_measure", "none")),
            caution=str(raw.get("caution", "")),
            synonyms=tuple(str(s) for s in raw.get("synonyms", [])),
            allergy_classes=tuple(str(s) for s in raw.get("allergy_classes", [])),
            upright_check_routes=tuple(
                normalize_route(r) for r in raw.get("upright_check_routes", [])
            ),
            enabled=bool(raw.get("enabled", True)),
            reassess_overdue_after_min=overdue_after_min,
            sources=tuple(sorted(sources.items())),
        )
    except KeyError as exc:
        raise ConfigError(SECTION, f"{where}.{exc.args[0]}", "is required") from None
    _validate(drug, where)
    return drug


def _validate(drug: Drug, where: str) -> None:
    """Refuse a formulary whose limits contradict each other (a typo in an override file)."""
    if drug.drug_class not in DRUG_CLASSES:
        raise ConfigError(SECTION, f"{where}.class", "must be one of " + ", ".join(DRUG_CLASSES))
    if not drug.routes:
        raise ConfigError(SECTION, f"{where}.routes", "must list at least one route")
    if drug.usual_dose <= 0:
        raise ConfigError(SECTION, f"{where}.usual_dose", "must be greater than 0", drug.usual_dose)
    if not drug.usual_dose <= drug.soft_max_single <= drug.hard_max_single:
        raise ConfigError(
            SECTION,
            f"{where}.soft_max_single",
            "must satisfy usual_dose ≤ soft_max_single ≤ hard_max_single "
            f"({drug.usual_dose} ≤ {drug.soft_max_single} ≤ {drug.hard_max_single})",
        )
    if drug.cumulative_max < drug.usual_dose:
        raise ConfigError(
            SECTION,
            f"{where}.cumulative_max",
            "must be at least the usual dose",
            drug.cumulative_max,
        )
    if drug.min_interval_min < 0:
        raise ConfigError(SECTION, f"{where}.min_interval_min", "must be 0 or more")
    if any(m < 0 for m in drug.reassess_min):
        raise ConfigError(SECTION, f"{where}.reassess_min", "must list minutes of 0 or more")
