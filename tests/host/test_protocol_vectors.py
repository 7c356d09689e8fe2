"""Golden vectors read back by the host decoder."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from finemotor.errors import CalibrationError, KitCommandError, ProtocolError
from finemotor.protocol import LAYOUTS, decode_frame, decode_frames
from finemotor.protocol import control as cp
from finemotor.protocol.calblob import MODEL_IDS, decode_calibration, encode_calibration
from finemotor.protocol.status import decode_status

DOC: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "vectors" / "protocol_v1.json").read_text()
)


@pytest.mark.parametrize("vec", DOC["frames"], ids=lambda v: v["name"])
def test_decoder_reads_golden_frame(vec: dict[str, Any]) -> None:
    d = decode_frame(bytes.fromhex(vec["hex"]))
    assert d.layout is LAYOUTS[vec["layout"]]
    assert d.ftype.tolist() == [vec["type"]]
    assert d.seq.tolist() == [vec["seq"]]
    assert d.tick.tolist() == [vec["tick"]]
    assert d.flags.tolist() == [vec["flags"]]
    assert d.count.tolist() == [len(vec["samples"])]
    assert d.counts.dtype == np.int32
    assert d.counts.tolist() == vec["samples"]


@pytest.mark.parametrize("vec", DOC["malformed"], ids=lambda v: v["reason"])
def test_decoder_rejects_malformed_frame_with_its_reason(vec: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError) as err:
        decode_frame(bytes.fromhex(vec["hex"]))
    assert err.value.reason == vec["reason"]


def test_batch_decode_keeps_valid_frames_and_counts_malformed_ones() -> None:
    good = [bytes.fromhex(v["hex"]) for v in DOC["frames"] if v["layout"] == 2]
    bad = [bytes.fromhex(v["hex"]) for v in DOC["malformed"]]  # grip frames, all broken
    mixed = [good[0], bad[0], good[1], bad[5], good[2]]
    decoded, errors = decode_frames(mixed)
    assert decoded is not None
    assert decoded.n_frames == 3
    assert [e.reason for e in errors] == ["truncated", "bad_length"]
    expected = [s for v in DOC["frames"] if v["layout"] == 2 for s in v["samples"]]
    assert decoded.counts.tolist() == expected
    assert decoded.frame_bounds().tolist()[-1] == len(expected)


def test_batch_decode_flags_a_frame_from_another_layout() -> None:
    stylus = bytes.fromhex(DOC["frames"][2]["hex"])
    grip = bytes.fromhex(DOC["frames"][0]["hex"])
    decoded, errors = decode_frames([stylus, grip])
    assert decoded is not None and decoded.n_frames == 1
    assert [e.reason for e in errors] == ["bad_layout"]


def test_empty_input_decodes_to_nothing() -> None:
    assert decode_frames([]) == (None, [])


@pytest.mark.parametrize("vec", DOC["status"], ids=lambda v: str(v["state"]))
def test_status_vector(vec: dict[str, Any]) -> None:
    s = decode_status(bytes.fromhex(vec["hex"]))
    assert s.battery_percent == vec["battery_percent"]
    assert s.battery_mv == vec["battery_mv"]
    assert s.rate_hz == vec["rate_hz"]
    assert (s.missed, s.overwritten, s.next_seq, s.faults) == (
        vec["missed"],
        vec["overwritten"],
        vec["next_seq"],
        vec["faults"],
    )
    assert s.state == {1: "streaming", 3: "fault"}[vec["state"]]
    assert s.calibrated == bool(vec["flags"] & 8)
    assert s.low_battery == bool(vec["flags"] & 1)


def test_status_of_wrong_size_is_refused() -> None:
    with pytest.raises(ProtocolError):
        decode_status(b"\x00" * 19)


def test_host_encodes_the_vector_requests() -> None:
    by_name = {v["name"]: v for v in DOC["control"]}
    assert cp.encode(cp.Op.START, 1).hex() == by_name["start"]["request"]
    assert cp.set_rate(2, 200).hex() == by_name["set rate 200"]["request"]
    assert cp.identify(4, 5).hex() == by_name["identify 5 s"]["request"]
    assert cp.encode(cp.Op.TIME_SYNC, 6).hex() == by_name["time sync"]["request"]
    assert cp.backfill(7, 65530, 800).hex() == by_name["backfill"]["request"]


R = cp.Result
# What docs/protocol.md says each vector's kit answers: the result, and the payload's fields
# (their format, and how the kit state in the vector gives their values).
CONTROL_EXPECTED: dict[str, tuple[cp.Result, str, Any]] = {
    "start": (R.OK, "<HI", lambda k: (k["next_seq"], k["now"])),
    "set rate 200": (R.OK, "<H", lambda k: (k["rate"],)),
    "set rate out of range": (R.BAD_VALUE, "", None),
    "identify 5 s": (R.OK, "", None),
    "identify 0 s refused": (R.BAD_VALUE, "", None),
    "time sync": (R.OK, "<I", lambda k: (k["now"],)),
    "backfill": (R.OK, "<HHH", lambda k: tuple(k["backfill"])),
    "not encrypted": (R.NOT_AUTHORISED, "", None),
    "start with stray byte": (R.BAD_LENGTH, "", None),
}


def test_every_control_vector_has_an_expectation() -> None:
    names = {v["name"] for v in DOC["control"]}
    assert names - {"unknown opcode"} == set(CONTROL_EXPECTED)


@pytest.mark.parametrize("vec", DOC["control"], ids=lambda v: v["name"])
def test_host_decodes_the_vector_responses(vec: dict[str, Any]) -> None:
    req = bytes.fromhex(vec["request"])
    resp = bytes.fromhex(vec["response"])
    if vec["name"] == "unknown opcode":  # an opcode the host does not know: not a response
        assert req[0] not in {op.value for op in cp.Op}
        with pytest.raises(ProtocolError):
            cp.decode_response(resp)
        return
    r = cp.decode_response(resp)
    assert r.token == req[1]
    assert r.op == req[0]
    result, fmt, values = CONTROL_EXPECTED[vec["name"]]
    assert r.result == result
    if fmt:
        assert len(r.payload) == struct.calcsize(fmt)
        assert r.fields(fmt) == values(vec["kit"])
    else:
        assert r.payload == b""
    assert bool(r.advice()) == (result != R.OK)


@pytest.mark.parametrize("vec", DOC["calibration"], ids=lambda v: v["name"])
def test_calibration_record_vectors(vec: dict[str, Any]) -> None:
    blob = bytes.fromhex(vec["hex"])
    if not vec["valid"]:
        with pytest.raises((ProtocolError, CalibrationError)):
            decode_calibration(blob, vec["device_channels"])
        return
    cal = decode_calibration(blob, len(vec["channels"]))
    assert cal.calibrated_at == vec["calibrated_at"]
    for got, want in zip(cal.channels, vec["channels"], strict=True):
        assert MODEL_IDS[got.model] == want["model"]
        assert got.zero == want["zero"]
        np.testing.assert_allclose(got.coeffs, want["coeffs"], rtol=1e-6)
    assert encode_calibration(cal) == blob


WRITES = DOC["calibration_writes"]


@pytest.mark.parametrize("seq", WRITES["sequences"], ids=lambda v: v["name"])
def test_host_reads_the_kits_answers_to_calibration_writes(seq: dict[str, Any]) -> None:
    """What the kit answers to staged chunks and a commit (refused: the reason reaches the
    person at the desk), and that the record it reads back afterwards is the one it kept."""
    answers = []
    for step in seq["steps"]:
        req, r = bytes.fromhex(step["request"]), cp.decode_response(bytes.fromhex(step["response"]))
        assert (r.token, r.op) == (req[1], req[0])
        answers.append(r)
    commit = [r for r in answers if r.op == cp.Op.CAL_COMMIT][-1]
    read = answers[-1]
    assert read.op == cp.Op.CAL_READ and read.ok
    (total,) = read.fields("<H")
    record = read.payload[2:]
    if seq["name"] == "a good record is stored":
        assert commit.ok and total == 24
        return
    assert commit.result == cp.Result.BAD_VALUE
    reason = commit.payload.decode("ascii")
    assert reason and reason in str(
        KitCommandError(commit.op.name, commit.result.name, commit.advice(), commit.payload)
    )
    # nothing was stored: the kit still reads back its record from before, not calibrated
    assert total == len(record)
    assert not decode_calibration(record, WRITES["channels"]).calibrated


@pytest.mark.parametrize("vec", WRITES["damaged"], ids=lambda v: v["name"])
def test_a_damaged_stored_record_reads_as_not_calibrated(vec: dict[str, Any]) -> None:
    r = cp.decode_response(bytes.fromhex(vec["read"]["response"]))
    (total,) = r.fields("<H")
    assert r.ok and total == len(r.payload) - 2
    assert not decode_calibration(r.payload[2:], WRITES["channels"]).calibrated
