"""Regenerate the recorded fixtures in tests/devices/fixtures/ from devices.md's sample frames.

Run: .venv/bin/python tests/devices/make_fixtures.py. Verbatim lines come from devices.md §1.1,
§1.5 and §1.8; Nonin frames are the synthetic (spec-exact) frames of §1.2. Where devices.md gives
only OBX rows (Comen), a minimal MSH/OBR header is added and marked synthetic in fixtures/FIXTURES.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from nursestation.devices.nonin import GPRF, SNSA
from nursestation.devices.simulator import nonin_packet

HERE = Path(__file__).parent / "fixtures"

MASIMO_RAD8 = """\
02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800
02/22/16 22:47:46 SN=0000056661 SPO2=098% BPM=096 PI=03.95% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800
02/22/16 22:47:47 SN=0000056661 SPO2=098% BPM=096 PI=04.25% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800
02/22/16 22:47:48 SN=0000056661 SPO2=098% BPM=096 PI=03.19% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800
02/22/16 22:47:49 SN=0000056661 SPO2=098% BPM=097 PI=02.41% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800
"""

MASIMO_MODELS = """\
12/01/05 11:56:29 SN=0123456789 SPO2=098% BPM=240 PI=20.00% SPCO=01.0% SPMET=00.5% DESAT=01 PIDELTA=-02 PVI=027 ALARM=0000 EXC=000820
09/15/10 15:10:29 SPO2=097% BPM=064 PI=11.82% ALARM=20 EXC=800
03/19/16 13:37:12 SN=0000093112 SPO2=---% BPM=--- DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000001
03/17/16 19:19:36 SN=---------- SPO2=098% BPM=123 PI=00.55 SPCO=--% SPMET=--.-% SPHB=--.- SPOC=-- RESVD=--- DESAT=-- PIDELTA=+-- PVI=--- ALARM=000000 EXC=0000C00 EXC1=00000000
05/15/07 08:12:21 SN=0000070986 SPO2=---% BPM=--- PI=--.--% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- PVI=--- ALARM=0000 EXC=000000
"""

MASIMO_TREND = """\
09/21/08 09:56:08 SpO2=000 PR=000 PI=00.00 EXC=820:OffPat,SET
09/21/08 09:56:10 SpO2=000 PR=000 PI=00.00 EXC=828:Search,OffPat,SET
09/21/08 09:56:12 SpO2=097 PR=069 PI=04.69 EXC=800:SET
09/21/08 09:56:14 SpO2=096 PR=074 PI=02.28 EXC=C00:LowSigIQ,SET
"""

NONIN_DF8 = "80 48 61 00  81 16 62 00  83 7F 7F 08  A7 7F 7F 00"
NONIN_DF2 = (
    "01 83 80 00 04  01 82 85 48 50  01 80 90 61 72  01 B1 40 03 F5  01 B0 41 7F 71  01 B0 42 7F 72"
)
NONIN_DF7 = "83 12 34 00 C9"

HL7_IHE_BP = """\
MSH|^~\\&|AcmeInc^ACDE48234567ABCD^EUI-64||||20090713090030+0500||ORU^R01^ORU_R01|MSGID1234|P|2.6|||NE|AL|||||IHE PCD ORU-R01 2006^HL7^2.16.840.1.113883.9.n.m^HL7
PID|||789567^^^Imaginary Hospital^PI||Doe^John^Joseph^^^^L^A|||M
OBR|1|AB12345^AcmeAHDInc^ACDE48234567ABCD^EUI-64|CD12345^AcmeAHDInc^ACDE48234567ABCD^EUI-64|528391^MDC_DEV_SPEC_PROFILE_BP^MDC|||20090813095715+0500
OBX|1||528391^MDC_DEV_SPEC_PROFILE_BP^MDC|1|||||||R|||||||0123456789ABCDEF^EUI-64
OBX|2||150020^MDC_PRESS_BLD_NONINV^MDC|1.0.1|||||||R|||20090813095715+0500
OBX|3|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.0.1.1|120|266016^MDC_DIM_MMHG^MDC|||||R
OBX|4|NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.0.1.2|80|266016^MDC_DIM_MMHG^MDC|||||R
OBX|5|NM|150023^MDC_PRESS_BLD_NONINV_MEAN^MDC|1.0.1.3|100|266016^MDC_DIM_MMHG^MDC|||||R
"""

HL7_GE_B40 = """\
MSH|^~\\&|...^EUI-64|GE Healthcare|||20230309143900||ORU^R01^ORU_R01|0040971443EC|P|2.6|||NE|AL||UNICODE UTF-8|||PCD_DEC_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO
OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X
OBX|2||69798^MDC_DEV_ECG_VMD^MDC|1.5.0.0|||||||X
OBX|3|NM|147842^MDC_ECG_HEART_RATE^MDC|1.5.1.1|68|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||||||080019FFFE1443EC^B40_GE
OBX|5|NM|151712^MDC_CONC_AWAY_CO2_EXP^MDC|1.11.1.1|1|266016^MDC_DIM_MMHG^MDC|||||R|||||||080019FFFE1443EC^B40_GE
OBX|8|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.22.1.1|67|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||||||080019FFFE1443EC^B40_GE
"""

# Synthetic MSH/OBR header (devices.md quotes only the OBX rows of this Comen message).
HL7_COMEN = """\
MSH|^~\\&|COMEN^COMEN01||||20250610015127+0800||ORU^R01^ORU_R01|C0001|P|2.6
OBR|1|||182777000^monitoring of patient^SCT|||20250610015127+0800
OBX||NM|149522^MDC_PULS_RATE^MDC|1.0.0.149522|59|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||F|||20250610015127+0800
OBX||NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.2.150456|97|262688^MDC_DIM_PERCENT^MDC|||||F|||20250610015127+0800
OBX||NM|151562^MDC_RESP_RATE^MDC|1.14.1.151562|20|264928^MDC_DIM_RESP_PER_MIN^MDC|||||F|||20250610015127+0800
OBX||NM|150344^MDC_TEMP^MDC|1.2.1.150344|37.0|268192^MDC_DIM_DEGC^MDC|||||F|||20250610015127+0800
OBX||NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.1.9.150021|120|266016^MDC_DIM_MMHG^MDC|||||F|||20250610015127+0800
OBX||NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.1.9.150022|80|266016^MDC_DIM_MMHG^MDC|||||F|||20250610015127+0800
OBX||NM|150023^MDC_PRESS_BLD_NONINV_MEAN^MDC|1.1.9.150023|90|266016^MDC_DIM_MMHG^MDC|||||F|||20250610015127+0800
"""

HL7_SENTINEL = """\
MSH|^~\\&|XH80X^00A037009B000000^EUI-64||||20210611102047||ORU^R01^ORU_R01|41|P|2.4|||AL|NE||UNICODE UTF-8
OBX|1|NM|150301^MDC_PRESS_CUFF_SYS^MDC|1.1.9.150301|-999|266016^MDC_DIM_MMHG^MDC||||||||20210611102047
OBX|5|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.150456|-999|262688^MDC_DIM_PERCENT^MDC||||||||20210611102047
OBX|7|NM|150344^MDC_TEMP^MDC|1.13.1.150344|-99.9|268192^MDC_DIM_DEGC^MDC||||||||20210611102047
"""

HL7_MINDRAY_PERIODIC = """\
MSH|^~\\&|||||||ORU^R01|204|P|2.3.1|
OBX||NM|101^HR|2101|60||||||F
OBX||NM|151^RR|2102|20||||||F
OBX||NM|160^SpO2|2103|98||||||F
OBX||NM|200^T1|2104|37.00||||||F
"""

HL7_MINDRAY_APERIODIC = """\
MSH|^~\\&|||||||ORU^R01|503|P|2.3.1|
OBX||NM|171^Dia|2105|80||||||F||APERIODIC|20070106191915
OBX||NM|172^Mean|2105|93||||||F||APERIODIC|20070106191915
OBX||NM|170^Sys|2105|120||||||F||APERIODIC|20070106191915
OBX||NM|170^Sys|2105|-100||||||F||APERIODIC|00000000000000
"""

HL7_VITALRECORDER = """\
MSH|^~\\&|VitalRecorder|VR_ABC123|||20250323143001||ORU^R01|42|P|2.6
PID|||PT-2025-001
PV1||I|OR-3
OBR|1|||VITAL_SIGNS|||20250323143000|20250323143001
OBX|1|NM|ECG_HR^BeneView/HR||72|bpm|40^200||||R
OBX|2|NM|PLETH_SPO2^BeneView/SpO2||98|%|80^100||||R
OBX|3|NM|NIBP_SBP^BeneView/NIBP_SBP||118|mmHg|40^260||||R
OBX|4|NM|NIBP_DBP^BeneView/NIBP_DBP||74|mmHg|20^200||||R
OBX|5|NM|BT^BeneView/BT||36.7|C|30^42||||R
"""


def mllp(*messages: str) -> bytes:
    """Each message with CR segment ends, wrapped in an MLLP block."""
    out = b""
    for m in messages:
        out += b"\x0b" + m.replace("\n", "\r").encode() + b"\x1c\x0d"
    return out


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("ascii")


FILES: dict[str, bytes] = {
    "masimo_rad8.txt": crlf(MASIMO_RAD8),
    "masimo_models.txt": crlf(MASIMO_MODELS),
    "masimo_trend.txt": crlf(MASIMO_TREND),
    "nonin_df8.bin": bytes.fromhex(NONIN_DF8),
    "nonin_df2.bin": bytes.fromhex(NONIN_DF2),
    "nonin_df7_frame.bin": bytes.fromhex(NONIN_DF7),
    # Synthetic, from the encoder: one good packet (HR 72, SpO2 97) then one with SNSA and 511/127.
    "nonin_df7_packets.bin": nonin_packet(72, 97, status=GPRF)
    + nonin_packet(511, 127, status=SNSA),
    "masimo_rad8.rawcap": b"",  # filled in by raw_capture() below
    "hl7_ihe_bp.mllp": mllp(HL7_IHE_BP),
    "hl7_ge_b40.mllp": mllp(HL7_GE_B40),
    "hl7_comen.mllp": mllp(HL7_COMEN),
    "hl7_sentinel.mllp": mllp(HL7_SENTINEL),
    "hl7_mindray.mllp": mllp(HL7_MINDRAY_PERIODIC, HL7_MINDRAY_APERIODIC),
    "hl7_vitalrecorder.mllp": mllp(HL7_VITALRECORDER),
}


def raw_capture() -> bytes:
    """The Rad-8 lines as a raw-capture file, split mid-line, one second apart."""
    data = crlf(MASIMO_RAD8)
    header = {
        "format": "nursestation-raw-capture",
        "version": 1,
        "protocol": "masimo-ascii",
        "url": "/dev/ttyUSB0",
        "started": "2026-03-02T14:00:00+00:00",
    }
    lines = [json.dumps(header)]
    for n, start in enumerate(range(0, len(data), 100)):
        t = f"2026-03-02T14:00:{n:02d}.250000+00:00"
        lines.append(json.dumps({"t": t, "dir": "rx", "hex": data[start : start + 100].hex()}))
    lines.insert(3, json.dumps({"t": "2026-03-02T14:00:02+00:00", "dir": "tx", "hex": "06"}))
    lines.insert(4, json.dumps({"t": "2026-03-02T14:00:02+00:00", "event": "receiving"}))
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    HERE.mkdir(exist_ok=True)
    FILES["masimo_rad8.rawcap"] = raw_capture()
    for name, data in FILES.items():
        (HERE / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
