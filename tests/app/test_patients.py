"""Input hygiene of the patient registry and user accounts (issue 13): allergies must be a list
(a string is refused, not split into letters, also from a scenario file); names and MRNs have
length limits and refuse control and bidi-override characters, naming the field; date of birth
and weight are required."""

from __future__ import annotations

import io
from datetime import date

import pytest
from sqlalchemy import func, select
from support import PASSWORD

from nursestation.app import patients, users
from nursestation.app.context import Actor, AppContext
from nursestation.db.models import Patient, User
from nursestation.errors import DomainError
from nursestation.text_checks import BIDI_CONTROLS


def _nurse(ctx: AppContext) -> Actor:
    users.provision_user(
        ctx, username="rn.ana", full_name="Ana Ruiz, RN", roles={"nurse"}, password=PASSWORD
    )
    return users.authenticate(ctx, "rn.ana", PASSWORD)


def _register(ctx: AppContext, actor: Actor, **kw):
    args = {
        "mrn": "K-1",
        "name": "Doe, Jane",
        "dob": date(1985, 4, 2),
        "weight_kg": 70,
        **kw,
    }
    return patients.register_patient(ctx, actor, **args)


def _refused(fn, *a, **kw) -> DomainError:
    with pytest.raises(DomainError) as e:
        fn(*a, **kw)
    return e.value


def _patients(ctx: AppContext) -> int:
    with ctx.tx() as s:
        return s.execute(select(func.count(Patient.id))).scalar_one()


def test_allergies_as_a_string_are_refused_not_split_into_letters(ctx) -> None:
    ana = _nurse(ctx)
    e = _refused(_register, ctx, ana, allergies="penicillin")
    assert e.code == "bad_input" and e.field == "allergies"
    assert "must be a list" in e.message and "penicillin" in e.message
    assert _patients(ctx) == 0
    p = _register(ctx, ana, allergies=["penicillin", "  ", "latex "])
    assert p.allergies == ("penicillin", "latex")


def test_allergy_entries_are_checked_like_names(ctx) -> None:
    ana = _nurse(ctx)
    e = _refused(_register, ctx, ana, allergies=["penicillin", 42])
    assert e.field == "allergies" and "entry 2 must be text" in e.message
    e = _refused(_register, ctx, ana, allergies=["peni\u202ecillin"])
    assert e.field == "allergies" and "U+202E" in e.message
    assert _patients(ctx) == 0


@pytest.mark.parametrize("ch", [*sorted(BIDI_CONTROLS), "\x00", "\n", "\x1b", "\x7f"])
def test_names_refuse_control_and_bidi_override_characters(ctx, ch: str) -> None:
    ana = _nurse(ctx)
    e = _refused(_register, ctx, ana, name=f"Doe,{ch} Jane")
    assert e.code == "bad_input" and e.field == "name"
    assert f"U+{ord(ch):04X}" in e.message and "position 5" in e.message
    assert _patients(ctx) == 0


def test_bidi_range_is_exactly_the_overrides_and_isolates() -> None:
    assert {f"{ord(c):04X}" for c in BIDI_CONTROLS} == {
        "202A", "202B", "202C", "202D", "202E", "2066", "2067", "2068", "2069"
    }  # fmt: skip


def test_name_and_mrn_length_limits_at_the_boundary(ctx) -> None:
    ana = _nurse(ctx)
    e = _refused(_register, ctx, ana, name="D" * 201)
    assert e.code == "out_of_range" and e.field == "name" and "allowed 1–200" in e.message
    e = _refused(_register, ctx, ana, mrn="K" * 65)
    assert e.code == "out_of_range" and e.field == "mrn" and "allowed 1–64" in e.message
    p = _register(ctx, ana, name="D" * 200, mrn="K" * 64)
    assert len(p.name) == 200 and len(p.mrn) == 64
    # Letters beyond ASCII are names, not attacks.
    q = _register(ctx, ana, mrn="K-2", name="Ñúñez, José-María")
    assert q.name == "Ñúñez, José-María"


def test_dob_and_weight_are_required(ctx) -> None:
    ana = _nurse(ctx)
    e = _refused(_register, ctx, ana, dob=None)
    assert (e.code, e.field, e.message) == ("bad_input", "dob", "Date of birth is required.")
    e = _refused(_register, ctx, ana, weight_kg=None)
    assert (e.code, e.field, e.message) == ("bad_input", "weight_kg", "Weight is required (kg).")
    e = _refused(_register, ctx, ana, weight_kg=True)
    assert e.field == "weight_kg"
    assert _patients(ctx) == 0


def test_user_full_name_refuses_bidi_and_control_characters_and_length(ctx) -> None:
    admin_name = "ad.dana"
    users.provision_user(
        ctx, username=admin_name, full_name="Dana Admin", roles={"administrator"}, password=PASSWORD
    )
    admin = users.authenticate(ctx, admin_name, PASSWORD)

    def create(**kw):
        args = {
            "username": "rn.new",
            "full_name": "New Nurse, RN",
            "roles": {"nurse"},
            "password": "Fresh-Pass-2026",
            **kw,
        }
        return users.create_user(ctx, admin, **args)

    e = _refused(create, full_name="Eve \u202eNR ,enilorac")
    assert e.field == "full_name" and "U+202E" in e.message
    e = _refused(create, full_name="Eve\tNurse")
    assert e.field == "full_name" and "U+0009" in e.message
    # The full name is the signing certificate's common name: 64 bytes of UTF-8 at most.
    e = _refused(create, full_name="E" * 65)
    assert e.code == "out_of_range" and e.field == "full_name" and "allowed 1–64" in e.message
    e = _refused(create, full_name="É" * 33)  # 33 characters, 66 bytes
    assert e.code == "out_of_range" and e.field == "full_name" and "66 bytes" in e.message
    e = _refused(create, username="rn.\u2066eve")
    assert e.field == "username"
    e = _refused(create, username="r" * 65)
    assert e.code == "out_of_range" and e.field == "username"
    with ctx.tx() as s:
        assert s.execute(select(func.count(User.id))).scalar_one() == 1
    info = create(full_name="E" * 64, username="r" * 64)
    assert len(info.full_name) == 64


def test_scenario_with_allergies_as_a_string_fails_setup(tmp_path) -> None:
    from nursestation.scenario.runner import ScenarioError, run_scenario

    spec = {
        "start": "2026-03-02T09:00:00+00:00",
        "users": [
            {"username": "rn.ana", "role": "nurse", "password": PASSWORD},
        ],
        "patients": [
            {
                "mrn": "K-1",
                "name": "Doe, Jane",
                "dob": "1985-04-02",
                "weight_kg": 70,
                "allergies": "penicillin",
            }
        ],
        "steps": [],
    }
    with pytest.raises(ScenarioError) as e:
        run_scenario(spec, out=io.StringIO(), data_dir=str(tmp_path / "data"))
    assert "Allergies must be a list" in str(e.value)
