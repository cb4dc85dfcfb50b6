"""The one module of user-visible wording and formats (issue 14)."""

from __future__ import annotations

from collections import namedtuple
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from nursestation import wording as w

V = namedtuple("V", "sbp dbp hr pulse_rate spo2 rr sedation_scale sedation_score")


def test_numbers_as_a_nurse_writes_them() -> None:
    assert (w.num(120.0), w.num(37.5), w.num(None)) == ("120", "37.5", "—")
    # the export rounds to its digits first: just inside and just outside a rounding step
    assert (w.num_digits(17.456, 2), w.num_digits(34.999, 2), w.num_digits(None)) == (
        "17.46",
        "35",
        "",
    )
    assert w.num_digits(40.04, 1) == "40" and w.num_digits(40.06, 1) == "40.1"


def test_zone_named_or_the_station_local_zone() -> None:
    when = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)
    assert w.hm(when, w.display_zone("Asia/Tokyo")) == "23:05"
    assert w.hm(when, w.display_zone(None)) == "14:05"  # tests pin the station to UTC
    assert w.hm(None, ZoneInfo("UTC")) == "—"
    assert w.iso_seconds(when, w.display_zone("America/New_York")) == "2026-03-02T09:05:00-05:00"


def test_labels_and_the_order_in_one_line() -> None:
    assert w.session_type_label("iv_ketamine") == "IV ketamine"
    assert w.session_type_label("im_ketamine") == "im ketamine"  # unknown keys stay readable
    assert (w.scale_label("aldrete"), w.scale_label("moaas")) == ("Modified Aldrete", "MOAA/S")
    assert w.indication_label("bp_above_limit") == "BP above limit"
    assert w.indication_label("nausea") == "Nausea"
    assert w.protocol_text("iv_ketamine", 0.5, 40, 1.0) == (
        "IV ketamine: 0.5 mg/kg over 40 min at 1 mg/mL"
    )
    assert w.protocol_text("iv_ketamine", 0.5, 40, 1.0, sep="").startswith("IV ketamine 0.5")
    assert w.note_label(7) == "S-000007"


def test_vitals_text_uses_the_pulse_rate_as_hr_when_no_hr() -> None:
    assert w.vitals_text(V(None, None, None, 88, 97, None, None, None)) == "HR 88, SpO2 97 %"
    assert w.vitals_text(V(186, 104, 84, 88, None, 14, "moaas", 4)) == (
        "BP 186/104, HR 84, RR 14, MOAAS 4"
    )
    assert w.vitals_text(V(None, None, None, None, None, None, None, None)) == "no values"


def test_drug_label_from_the_formulary_else_the_key_in_words() -> None:
    from nursestation.clinic import load_defaults
    from nursestation.formulary import Formulary

    f = Formulary.from_settings(load_defaults())
    assert w.drug_label(f, "ondansetron") == f.get("ondansetron").name
    assert w.drug_label(f, "retired_drug") == "Retired drug"  # no longer in the formulary
    assert w.drug_label(None, "ondansetron") == "Ondansetron"


def test_times_with_seconds_and_dates_in_the_zone() -> None:
    when = datetime(2026, 3, 2, 15, 5, 9, tzinfo=UTC)
    tokyo = ZoneInfo("Asia/Tokyo")
    assert w.hms(when, tokyo) == "00:05:09" and w.hms(None, tokyo) == "—"
    assert w.date_hm(when, tokyo) == "2026-03-03 00:05" and w.date_hm(None, tokyo) == ""
    assert w.date_hms(when, tokyo) == "2026-03-03 00:05:09"


def test_a_typed_wall_clock_time_is_read_in_the_clinic_zone() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    assert w.wall_time_in(datetime(2026, 3, 3, 0, 5), tokyo) == datetime(
        2026, 3, 2, 15, 5, tzinfo=UTC
    )
    ny = ZoneInfo("America/New_York")
    # 2026-11-01 01:30 happens twice in New York: the first (EDT, UTC-4) is taken.
    assert w.wall_time_in(datetime(2026, 11, 1, 1, 30), ny) == datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    )
    # One minute later in the other direction of the round trip: shown, then read back.
    shown = datetime(2026, 11, 1, 5, 31, tzinfo=UTC).astimezone(ny).replace(tzinfo=None)
    assert w.wall_time_in(shown, ny) == datetime(2026, 11, 1, 5, 31, tzinfo=UTC)
