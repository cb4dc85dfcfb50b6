"""A realistic, fixed session note for tests, the benchmark and visual checks (not clinical data)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from nursestation.note_content import (
    AlarmRow,
    AssessmentRow,
    ChartMarker,
    ChartSeries,
    ChecklistRow,
    CriterionRow,
    DischargeInfo,
    DischargeItem,
    DoseCalculation,
    InfusionEvent,
    InfusionRecord,
    MedicationRow,
    NoteContent,
    NoteHeader,
    OverrideRow,
    VitalsRow,
)

SAMPLE_START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 09:00 in New York
NURSE = "Ana Ruiz, RN"
CHARGE = "Ben Ode, RN"


def _bp_at(minute: float) -> tuple[float, float, float]:
    """A plausible ketamine BP curve: rises during the infusion, settles in recovery."""
    if minute < 10:
        sbp, dbp, hr = 124.0, 80.0, 74.0
    elif minute < 50:
        rise = min(minute - 10, 25) * 1.6
        sbp, dbp, hr = 124 + rise, 80 + rise * 0.55, 74 + rise * 0.35
    else:
        fall = max(0.0, 164 - (minute - 50) * 0.7)
        sbp, dbp, hr = max(126.0, fall), max(82.0, 102 - (minute - 50) * 0.35), 80.0
    # labetalol at 40 min brings the peak down
    if 40 <= minute < 60:
        sbp -= (minute - 40) * 0.8
        dbp -= (minute - 40) * 0.4
    return round(sbp), round(dbp), round(hr)


def sample_note_content(hours: float = 2, *, version: int = 1) -> NoteContent:
    """A 2-hour (by default) session: check-in, 40-min infusion with a pause, ondansetron,
    labetalol given under a charge-nurse override, recovery, and a discharge with an override."""
    t0 = SAMPLE_START
    start = t0 + timedelta(minutes=10)
    total_min = int(hours * 60)

    def at(minute: float) -> datetime:
        return t0 + timedelta(minutes=minute)

    vitals: list[VitalsRow] = []
    bp_points: list[tuple[float, float, float, float]] = []
    hr_points: list[tuple[float, float, float]] = []
    step = 5
    for minute in range(0, total_min + 1, step):
        sbp, dbp, hr = _bp_at(minute)
        mean = round((sbp + 2 * dbp) / 3)
        spo2 = 97.0 if minute not in (30, 35) else 93.0
        flags: dict[str, str] = {}
        if sbp >= 160:
            flags["sbp"] = "HIGH (action)"
        elif sbp >= 150:
            flags["sbp"] = "HIGH (notify)"
        if dbp >= 100:
            flags["dbp"] = "HIGH (action)"
        if spo2 < 94:
            flags["spo2"] = "LOW (notify)"
        manual = minute in (0, 60, 90)
        late = minute == 90
        vitals.append(
            VitalsRow(
                observed_at=at(minute),
                recorded_at=at(minute + (14 if late else 2 if minute == 60 else 0)),
                source="manual" if manual else "Masimo Radical-7 (COM3, SN 0000056661)",
                sbp=sbp,
                dbp=dbp,
                map=mean,
                hr=hr,
                spo2=spo2,
                rr=14.0 if minute < 30 else 12.0,
                etco2=None if manual else 36.0,
                temp=36.8 if minute in (0, 90) else None,
                sedation=None if minute % 15 else ("MOAA/S 5" if minute < 15 else "MOAA/S 4"),
                flags=flags,
                late=late,
                correction=(
                    f"Corrects the 182/104 entry (entered in error) by {NURSE}"
                    if minute == 60
                    else None
                ),
            )
        )
        if minute == 60:
            # The wrong entry stays on the record, marked superseded (never overwritten).
            wrong = vitals[-1]
            vitals.insert(
                len(vitals) - 1,
                VitalsRow(
                    observed_at=wrong.observed_at,
                    recorded_at=at(61),
                    source="manual",
                    sbp=182,
                    dbp=104,
                    map=130,
                    hr=wrong.hr,
                    spo2=wrong.spo2,
                    rr=wrong.rr,
                    flags={"sbp": "HIGH (action)", "dbp": "HIGH (action)"},
                    superseded=True,
                    correction="Transcription error; superseded by the next row",
                ),
            )
        bp_points.append((minute - 10, sbp, dbp, mean))
        hr_points.append((minute - 10, hr, spo2))

    dose = DoseCalculation(
        weight_kg=70.0,
        dose_mg_per_kg=0.5,
        total_mg=35.0,
        concentration_mg_per_ml=0.35,
        volume_ml=100.0,
        duration_min=40.0,
        rate_mg_per_h=52.5,
        rate_ml_per_h=150.0,
        weight_recorded_on=date(2026, 2, 23),
    )
    events = (
        InfusionEvent(start, "started", "", 150.0, NURSE),
        InfusionEvent(start + timedelta(minutes=15), "paused", "nausea, retching", None, NURSE),
        InfusionEvent(start + timedelta(minutes=20), "resumed", "nausea settled", 150.0, NURSE),
        InfusionEvent(
            start + timedelta(minutes=30),
            "rate changed",
            "BP rising; prescriber order",
            120.0,
            NURSE,
        ),
        InfusionEvent(start + timedelta(minutes=46), "stopped", "dose complete", None, NURSE),
    )
    infusion = InfusionRecord(
        drug="Ketamine HCl (racemic)",
        dose=dose,
        lot="KX2291-B",
        expiry="2027-08",
        diluent="100 mL 0.9% sodium chloride",
        site="left antecubital, 22 G",
        events=events,
        minutes_infused=41.0,
        delivered_mg=34.6,
    )
    meds = (
        MedicationRow(
            at(26),
            "Ondansetron",
            4,
            "mg",
            "IV",
            "nausea (infusion paused)",
            "BP 142/90, HR 80, SpO2 97 %",
            "nausea resolved at 09:41; no further vomiting",
            NURSE,
        ),
        MedicationRow(
            at(41),
            "Labetalol",
            10,
            "mg",
            "IV",
            "SBP ≥ 160 mmHg",
            "BP 164/102, HR 83, SpO2 97 %",
            "BP 150/94 at 09:56, 142/90 at 10:10",
            NURSE,
            override_reason=(
                "second dose window not reached (interval rule); given on prescriber "
                "phone order, approved by Ben Ode, RN"
            ),
        ),
    )
    assessments = tuple(
        AssessmentRow(at(m), scale, score, detail)
        for m, scale, score, detail in (
            (0, "PHQ-9", 17, "moderately severe; C-SSRS screen negative"),
            (0, "GAD-7", 11, "moderate"),
            (20, "MOAA/S", 4, "lethargic response to name"),
            (35, "CADSS", 14, "dissociation expected for dose"),
            (50, "MOAA/S", 5, "alert"),
            (65, "Nausea (0–10)", 1, "mild, improving"),
            (total_min - 10, "Modified Aldrete", 9, "see discharge"),
        )
    )
    alarms = (
        AlarmRow(
            at(30), "medium", "SpO2 93 % below 94 %", NURSE, at(31), "repositioned, O2 not needed"
        ),
        AlarmRow(
            at(40), "high", "SBP 164 mmHg ≥ 160 mmHg (action)", NURSE, at(40.5), "labetalol given"
        ),
        AlarmRow(at(45), "low", "Vitals overdue (chair 3)", NURSE, at(46), "cuff re-cycled"),
    )
    discharge = DischargeInfo(
        scale_name="Modified Aldrete",
        assessed_at=at(total_min - 10),
        items=(
            DischargeItem("Activity", 2, 2, "moves 4 limbs"),
            DischargeItem("Respiration", 2, 2, "breathes deeply"),
            DischargeItem("Circulation", 1, 2, "BP within 20–50 % of baseline (146/90)"),
            DischargeItem("Consciousness", 2, 2, "fully awake"),
            DischargeItem("Oxygen saturation", 2, 2, "SpO2 97 % on room air"),
        ),
        criteria=(
            CriterionRow("Observation time ≥ 60 min after stop", True, "64 min"),
            CriterionRow("Aldrete ≥ 9", True, "9 at 10:50"),
            CriterionRow("BP within 20 % of baseline", False, "146/90 vs 124/80 (+18 %/+13 %)"),
            CriterionRow("Ambulates steadily", True, "walked to restroom unaided"),
            CriterionRow("Escort present", True, "Jordan Doe (spouse), 555-0142"),
        ),
        overrides=(
            OverrideRow(
                "BP within 20 % of baseline",
                "Asymptomatic, BP trending down on three readings; prescriber informed",
                CHARGE,
                at(total_min - 5),
            ),
        ),
        escort="Jordan Doe (spouse), 555-0142",
        instructions_given=True,
        condition="alert, oriented ×3, ambulatory, no nausea",
        next_appointment="2026-03-05 09:00, chair 3",
        approved_by=CHARGE,
        approved_at=at(total_min),
    )
    return NoteContent(
        note_id="N-2026-000123",
        version=version,
        generated_at=at(total_min + 1),
        app_version="0.1.0",
        clinic_name="Riverside Ketamine Clinic",
        header=NoteHeader(
            patient_name="Doe, Jane",
            mrn="K-1001",
            dob=date(1985, 4, 2),
            session_date=t0.date(),
            chair="3",
            session_number=4,
            protocol="IV ketamine 0.5 mg/kg over 40 min (induction series, protocol v2)",
            nurse=NURSE,
            prescriber="Dr. Mira Patel, MD",
            allergies="sulfa (rash)",
        ),
        checklist=(
            ChecklistRow("Identity confirmed (2 identifiers)", "yes", "name + DOB"),
            ChecklistRow("Consent on file and confirmed", "yes", "signed 2026-02-10"),
            ChecklistRow("NPO solids since", "06:30", "≥ 2 h"),
            ChecklistRow("Escort name and phone", "Jordan Doe, 555-0142", ""),
            ChecklistRow("Allergies reviewed", "yes", "sulfa (rash)"),
            ChecklistRow("Medications reviewed", "yes", "sertraline 100 mg; no MAOI"),
            ChecklistRow("Pregnancy screen", "negative", "urine hCG"),
            ChecklistRow("Contraindication screen", "none", "no psychosis, no uncontrolled HTN"),
            ChecklistRow("C-SSRS", "negative", ""),
            ChecklistRow("OK to proceed", "yes", f"decided by {NURSE} with Dr. Mira Patel"),
        ),
        baseline_vitals=vitals[0],
        infusion=infusion,
        vitals=tuple(vitals),
        chart_series=(
            ChartSeries("SBP", "bp", tuple((m, s) for m, s, _, _ in bp_points)),
            ChartSeries("DBP", "bp", tuple((m, d) for m, _, d, _ in bp_points)),
            ChartSeries("MAP", "bp", tuple((m, p) for m, _, _, p in bp_points)),
            ChartSeries("HR", "hr_spo2", tuple((m, h) for m, h, _ in hr_points)),
            ChartSeries("SpO2", "hr_spo2", tuple((m, s) for m, _, s in hr_points)),
        ),
        chart_markers=(
            ChartMarker(0, "start"),
            ChartMarker(15, "pause"),
            ChartMarker(16, "ondansetron"),
            ChartMarker(20, "resume"),
            ChartMarker(31, "labetalol"),
            ChartMarker(46, "stop"),
        ),
        medications=meds,
        assessments=assessments,
        alarms=alarms,
        discharge=discharge,
        display_tz="America/New_York",
    )
