"""The kit's firmware under stand-ins as strict as MicroPython's ESP32 port with NimBLE.

Issue 18's eight ways the stand-ins used to be more lenient than the port, each with the rule
on its own (``mpy/stand_ins.py``) and the whole firmware living with it (``mpy/fidelity.py``:
the real Kit on the simulated board, ``vcentral.Central`` as the computer, virtual time).
docs/simulation.md lists every rule and the upstream source it models.
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from uuid import UUID
from functools import cache
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from bumble import hci
from bumble.smp import AddressResolver

from finemotor.protocol import decode_frames
from finemotor.transport.advert import KitAdvert, parse_advert
from mpy_runner import run_mpy

MPY = Path(__file__).resolve().parent / "mpy"
ERR_SENSOR = 5


@dataclass
class Heard:
    """One advertisement as computers around heard it: world time (µs), the kit's address
    (most significant byte first), advertising data, scan response."""

    t_us: int
    address: bytes
    adv: bytes
    resp: bytes


@dataclass
class Run:
    r: dict[str, str]
    frames: list[bytes] = field(default_factory=list)
    control: list[bytes] = field(default_factory=list)
    heard: list[Heard] = field(default_factory=list)
    out: str = ""

    def n(self, key: str) -> int:
        return int(self.r[key])


def _run(script: str, *args: str) -> Run:
    with tempfile.TemporaryDirectory() as flash:  # the kit's files land here
        proc = run_mpy(MPY / script, *args, heap="1m", cwd=flash)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    run = Run({}, out=proc.stdout)
    for line in proc.stdout.splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "R":
            k, _, v = rest.partition(" ")
            run.r[k] = v
        elif tag == "F":
            run.frames.append(bytes.fromhex(rest))
        elif tag == "C":
            run.control.append(bytes.fromhex(rest))
        elif tag == "A":
            t, addr, adv, *resp = rest.split(" ")
            run.heard.append(
                Heard(int(t), bytes.fromhex(addr), bytes.fromhex(adv), bytes.fromhex("".join(resp)))
            )
    return run


@cache
def kit(scenario: str, kind: str = "grip", chip: str = "-", *seed: str) -> Run:
    """The fidelity scenario's run (with a seed: under dense preemption at bytecode jumps)."""
    run = _run("fidelity.py", scenario, kind, chip, *seed)
    assert run.n("irq_errors") == 0 and run.n("handler") == 1, run.out[-2000:]
    assert run.r.get("faults", "0") == "0" and run.n("store_loops") == 0
    return run


def rule(case: str, *args: str) -> Run:
    return _run("stand_ins.py", case, *args)


def responses(run: Run) -> dict[int, bytes]:
    """Control responses by token (each must come once)."""
    out: dict[int, bytes] = {}
    for resp in run.control:
        assert resp[0] == 0x80
        assert resp[1] not in out, f"two responses for token {resp[1]}"
        out[resp[1]] = resp
    return out


def stream_whole(run: Run) -> int:
    """Live frames in order and in time; every backfilled sample equals the live one.
    Returns the number of backfilled samples checked."""
    decoded, errors = decode_frames(run.frames)
    assert not errors, errors[:3]
    assert decoded is not None
    starts = np.concatenate([[0], np.cumsum(decoded.count)])
    live: dict[int, tuple[int, ...]] = {}
    backfill: dict[int, tuple[int, ...]] = {}
    nxt, last_tick = -1, -1
    for i in range(decoded.n_frames):
        rows = decoded.counts[starts[i] : starts[i + 1]]
        seq = int(decoded.seq[i])
        if decoded.ftype[i] == 0:
            tick = int(decoded.tick[i])
            assert tick > last_tick, f"live frame {i}: device time went back"
            last_tick = tick
            if nxt >= 0 and not decoded.flags[i] & 0x02:  # FLAG_RESUMED starts afresh
                assert seq == nxt, f"live frame {i}: seq {seq}, expected {nxt}"
            nxt = seq + int(decoded.count[i])
            target = live
        else:
            target = backfill
        for k, row in enumerate(rows):
            target[seq + k] = tuple(int(x) for x in row)
    shared = set(live) & set(backfill)
    assert all(live[s] == backfill[s] for s in shared), "a backfilled sample differs"
    return len(shared)


# 1. Deleting a bond -----------------------------------------------------------------------


def test_a_computer_that_forgot_the_kit_pairs_again() -> None:
    # NimBLE deletes until it hears "not found": no loop, and bonds.bin written once.
    run = kit("repair")
    assert run.n("store_loops") == 0
    assert run.n("rewrites") == 1
    assert run.n("entries") == 2 and run.n("encrypted") == 1


# 2. An exception escaping the handler -----------------------------------------------------


def test_an_exception_unregisters_the_handler() -> None:
    run = rule("irq_exception")
    assert "Unhandled exception in IRQ callback handler" in run.out
    assert run.n("events") == 1  # the disconnect after it never reached the handler


def test_a_sensor_that_stops_answering_then_start() -> None:
    run = kit("fault")
    got = responses(run)
    assert got[run.n("start_token")][3] == ERR_SENSOR
    assert run.n("readvertised") >= 1 and run.n("advertising") == 1
    assert run.n("after_token") in got  # the handler still answers the next connection


# 3. Events preempt the main program -------------------------------------------------------


def test_requests_during_a_notification_leave_the_stream_whole() -> None:
    # STOP, START and BACKFILL reach the kit while its stream task is inside gatts_notify,
    # between building a frame and marking it sent.
    run = kit("preempt", "grip", "ads1220")
    assert run.n("overwritten") == 0
    assert len(responses(run)) == len(run.control) > 90
    assert stream_whole(run) >= 400  # the last backfill of 500 samples got through


@pytest.mark.parametrize("jumps", [(), ("jumps",)], ids=["", "jumps"])
def test_the_handlers_memoryviews_are_garbage_after_it_returns(jumps: tuple[str, ...]) -> None:
    run = rule("irq_views", *jumps)
    assert run.r["inside"] == "010203040506"
    assert run.r["after"] == "a5a5a5a5a5a5"
    if jumps:  # preemption points came while the handler ran, and waited for it to end
        assert run.n("ticks_in_handler") > 0


# 4. Flash writes and the scheduler queue --------------------------------------------------


@pytest.mark.parametrize("jumps", [(), ("jumps",)], ids=["", "jumps"])
def test_callbacks_queue_eight_deep_through_a_flash_write(jumps: tuple[str, ...]) -> None:
    run = rule("sched", *jumps)
    stall = run.n("stall_us")
    assert stall >= 45_000
    assert run.n("ran_after") == 8  # the queue's depth
    assert abs(run.n("dropped") - (round(stall / 1000) - 8)) <= 1  # the rest of the periods
    assert run.n("first_late_us") >= stall - 300  # stamped when run, not when due
    assert run.n("bunched_us") < 1000  # back to back
    if jumps:  # preemption points came while a callback ran, and waited for it to end
        assert run.n("ticks_in_callback") > 0


@pytest.mark.parametrize("jumps", [(), ("jumps",)], ids=["", "jumps"])
def test_no_callback_runs_inside_the_bluetooth_handler(jumps: tuple[str, ...]) -> None:
    run = rule("handler_locked", *jumps)
    assert run.n("ran_inside") == 0
    assert run.n("dropped") > 0
    if jumps:  # preemption points came while the handler ran, and waited for it to end
        assert run.n("ticks_in_handler") > 0


@pytest.mark.parametrize(("kind", "chip"), [("stylus", "-"), ("grip", "ads1220")])
def test_pairing_and_cal_commit_while_sampling(kind: str, chip: str) -> None:
    # Every sample period is either a sample or counted missed, exactly; time runs forward;
    # the backfill of the whole recording equals what went live.
    run = kit("stall", kind, chip)
    assert run.n("cal_writes") == 2 and run.n("bond_writes") >= 2
    periods = round((run.n("t_last") - run.n("t_first")) * 1000 / run.n("period_ns")) + 1
    assert run.n("missed") > 0
    assert run.n("samples") + run.n("missed") == periods
    assert stream_whole(run) > 0.9 * run.n("samples")


# 5. Soft interrupts only ------------------------------------------------------------------


def test_timer_and_pin_callbacks_are_soft_only() -> None:
    run = rule("soft")
    assert run.r["timer_hard"].startswith("ValueError")
    assert run.r["pin_hard"].startswith("TypeError")
    assert run.r["pin_priority"].startswith("TypeError")


# 6. gatts_notify and ENOMEM ---------------------------------------------------------------


def test_notify_raises_enomem_and_never_blocks() -> None:
    run = rule("notify")
    assert run.n("ok") == 12 and run.n("enomem") == 8
    assert run.n("blocked_us") == 0
    assert run.n("later") == 4  # one connection event later, four buffers came back


def test_a_notify_flood_loses_no_control_response() -> None:
    run = kit("enomem", "grip", "ads1220")
    assert run.n("enomem") > 100
    assert sorted(responses(run)) == list(range(1, run.n("requests") + 1))


# 7. Two store entries per bond ------------------------------------------------------------


def test_the_kit_keeps_four_bonds_of_two_entries_each() -> None:
    run = kit("bonds")
    assert run.n("peers") == 4 and run.n("entries") == 8
    assert run.n("first_kept") == 0  # the oldest went, both its entries
    assert run.n("whole") == 4


# 8. The 31-byte advertising limit ---------------------------------------------------------


def test_adverts_over_31_bytes_are_refused() -> None:
    run = rule("adverts")
    assert run.r["a31"] == "none"
    assert "EINVAL" in run.r["a32"] and "EINVAL" in run.r["r32"]


def test_the_kits_adverts_fit() -> None:
    # Inside the pairing window and outside it.
    run = kit("privacy")
    assert {len(h.resp) > 0 for h in run.heard} == {True, False}
    for h in run.heard:
        assert 0 < len(h.adv) <= 31 and len(h.resp) <= 31


# Privacy on the air ------------------------------------------------------------------------

NIMBLE_DEFAULT_IRK = bytes.fromhex("ef8de2164fec430dbf5bdd34c0531eb8")


def ad_structures(data: bytes) -> dict[int, bytes]:
    """The AD structures of an advertising payload, by type."""
    out: dict[int, bytes] = {}
    i = 0
    while i < len(data) and data[i]:
        n = data[i]
        out[data[i + 1]] = data[i + 2 : i + 1 + n]
        i += 1 + n
    return out


def as_host_sees(h: Heard) -> KitAdvert | None:
    """The advertisement through the host's own parser (finemotor.transport.advert)."""
    ads = {**ad_structures(h.resp), **ad_structures(h.adv)}
    mfr = ads.get(0xFF, b"")
    uuid = str(UUID(bytes=bytes(reversed(ads.get(0x07, bytes(16))))))
    name = ads[0x09].decode() if 0x09 in ads else None
    return parse_advert(h.address.hex(":"), {mfr[0] | mfr[1] << 8: mfr[2:]}, [uuid], -60, name)


def resolver(run: Run, irk: bytes | None = None) -> AddressResolver:
    """bumble's resolving list with one bond: the kit's identity and an IRK (the kit's own
    unless given)."""
    identity = hci.Address(bytes(reversed(bytes.fromhex(run.r["identity"]))))
    return AddressResolver([(irk or bytes.fromhex(run.r["irk"]), identity)])


def rpa(address: bytes) -> hci.Address:
    return hci.Address(bytes(reversed(address)), hci.Address.RANDOM_DEVICE_ADDRESS)


def test_addr_mode_and_the_irk_as_on_the_port() -> None:
    run = rule("addr_mode")
    assert run.r["rpa_inactive"].startswith("OSError")  # the stack must be active
    assert run.r["irk_no_handler"] == NIMBLE_DEFAULT_IRK.hex()  # nobody to keep a new one
    assert run.r["asked"] == "get 10 irk,set 10 irk"  # load_irk: asked, then offered
    assert run.n("irk_stored") == 1 and run.n("same_irk") == 1
    assert run.r["mac_static"] == "none"
    assert "EINVAL" in run.r["mac_rpa"] or "22" in run.r["mac_rpa"]  # the RPA is not readable
    assert "EINVAL" in run.r["public"] or "22" in run.r["public"]
    assert int(run.r["rpa"][:2], 16) >> 6 == 0b01 and run.n("resolves") == 1


def test_the_address_is_renewed_every_rpa_timeout() -> None:
    run = kit("privacy")
    assert run.n("rpa_default_s") == 15 * 60  # NimBLE's on the ESP32 (CONFIG_BT_NIMBLE_RPA_TIMEOUT)
    before, after, later = (
        bytes.fromhex(run.r[k]) for k in ("addr_before", "addr_after", "addr_later")
    )
    assert before != after != later != before
    assert all(a[0] >> 6 == 0b01 for a in (before, after, later))  # resolvable private
    changes = [h.t_us for p, h in pairwise(run.heard) if h.address != p.address]
    period = run.n("period_ms") * 1000
    assert changes and all(t % period < 50_000 for t in changes)  # on the controller's timer
    assert run.n("rotations") >= 3


def test_the_kit_id_is_on_the_air_only_while_the_pairing_window_is_open() -> None:
    run = kit("privacy")
    seen = [(h, as_host_sees(h)) for h in run.heard]
    assert all(a is not None for _, a in seen)  # every advertisement is a finemotor kit's
    inside = [a for h, a in seen if run.n("window_at") <= h.t_us < run.n("paired_at")]
    outside = [(h, a) for h, a in seen if not run.n("window_at") <= h.t_us < run.n("paired_at")]
    assert inside and all(a and a.pairing_open and a.kit_id for a in inside)
    assert outside and run.n("window_open") == 0
    for h, a in outside:
        assert a is not None and a.kit_id is None and a.battery_percent is None
        assert a.kind == "grip" and not a.pairing_open and h.resp == b""
    ids = {a.kit_id for a in inside if a is not None}
    assert len(ids) == 1
    (the_id,) = ids
    assert the_id is not None
    for h, _a in outside:  # not in any form: bytes or text
        assert bytes.fromhex(the_id) not in h.adv + h.resp and the_id.encode() not in h.resp


def test_a_bonded_computer_resolves_the_new_address_and_reconnects() -> None:
    run = kit("privacy")
    later = bytes.fromhex(run.r["addr_later"])
    assert run.r["resolved"] == run.r["identity"]  # the computer's stack (vcentral)
    identity = resolver(run).resolve(rpa(later))  # and bumble's, with the IRK the kit gave
    assert identity is not None and bytes(reversed(bytes(identity))).hex() == run.r["identity"]
    assert run.n("reencrypted") == 1 and run.n("encrypted") == 1
    assert run.n("status_token") in responses(run)


def test_an_unbonded_scanner_cannot_link_two_addresses() -> None:
    run = kit("privacy")
    outside = [h for h in run.heard if h.resp == b""]
    addresses = {h.address for h in outside}
    assert len(addresses) >= 3  # one per renewal
    assert bytes.fromhex(run.r["identity"]) not in addresses
    assert len({h.adv for h in outside}) == 1  # nothing but the address changes
    # The kit's IRK is its own, kept with its bonds: not NimBLE's default IRK (shared by every
    # device that registers its handler too late), nor another kit's.
    assert run.r["irk"] != NIMBLE_DEFAULT_IRK.hex() and run.n("irk_stored") == 1
    for irk in (NIMBLE_DEFAULT_IRK, bytes(range(16))):
        other = resolver(run, irk)
        assert all(other.resolve(rpa(a)) is None for a in addresses)


# 9. Preemption at bytecode jumps ------------------------------------------------------------
# The handler runs on NimBLE's task and takes the GIL at any bytecode jump of the main program;
# soft callbacks start at jumps too (preempt.py). Each test fails with the mechanism switched
# off (FINEMOTOR_SIM_PREEMPT=0): nothing then reaches the main program between two statements.


def test_an_event_reaches_the_handler_between_two_statements() -> None:
    # A loop that calls nothing sees, in the middle of its run, what the handler did.
    run = rule("jump", "jumps")
    assert run.n("at") > 0, run.out
    assert run.n("at_jump") == 1
    assert run.n("world_us") >= 1250  # the loop's own Python took the event's 1.25 ms


def test_an_event_during_a_call_into_the_port_reaches_the_handler_after_it() -> None:
    # The stand-ins are the port's C code, which keeps the GIL: the handler runs at the jump
    # after the call that took 5 ms, not inside it.
    run = rule("section", "jumps")
    assert run.r["inside"] == "0"
    assert run.n("at_exit") + run.n("at_jump") == 1  # (a tick may come as the call ends)


def test_a_handler_that_changes_a_list_the_main_program_walks_is_caught() -> None:
    # What the firmware must not do (it posts to preallocated slots instead): the handler
    # appends to a list that the main program is walking, and the walk sees the change.
    run = rule("shared_list", "jumps")
    assert run.n("walks") > 100
    assert run.n("caught") > 0


def _bridge(port_ready: threading.Event, port: list[int]) -> None:
    """A bridge that answers the kit's hello, then 0.1 s on tells of a connection."""
    with socket.create_server(("127.0.0.1", 0)) as srv:
        port.append(srv.getsockname()[1])
        port_ready.set()
        srv.settimeout(30)
        conn, _ = srv.accept()
        with conn:
            conn.recv(3)  # 'H', length 0
            conn.sendall(bytes((0x68, 7, 0, 1)) + bytes(range(6)))
            time.sleep(0.1)
            conn.sendall(bytes((0x63, 9, 0, 1, 0, 0)) + bytes(range(6)))  # central connect
            with contextlib.suppress(OSError):
                while conn.recv(64):
                    pass


def test_an_event_from_the_bridge_reaches_the_handler_between_two_statements() -> None:
    # Realtime, as run_kit.py: the bridge's socket having data is a preemption point.
    ready, port = threading.Event(), []
    server = threading.Thread(target=_bridge, args=(ready, port), daemon=True)
    server.start()
    assert ready.wait(10)
    run = _run("bridge_jump.py", str(port[0]))
    server.join(10)
    assert run.n("started") == 1
    assert run.n("at") > 0, run.out
    assert run.n("at_jump") == 1


def _sampler_run(kind: str, chip: str) -> Run:
    return _run("sampler_jumps.py", kind, chip, "3")


@pytest.mark.parametrize(("kind", "chip"), [("stylus", "-"), ("grip", "ads1220")])
def test_stop_and_start_keep_the_ring_whole_when_the_sampler_preempts_them(
    kind: str, chip: str
) -> None:
    # STOP and START over and over from the main program while the sampling handler runs at
    # its jumps: a stop never leaves a block half full, a start always leaves it sampling.
    run = _sampler_run(kind, chip)
    assert run.n("started") == 1 and run.n("irq_errors") == 0
    assert run.n("callbacks_at_jump") >= 200, run.r  # the handler came between statements
    assert run.n("mid_block") == 0
    assert run.n("left_stopped") == 0


def test_a_request_written_as_the_link_comes_back_is_answered() -> None:
    # The link drops and comes back, encrypted, with START written, while the kit's main
    # program is inside the flash write of a bond: START is answered and data flows.
    run = kit("reconnect", "grip", "ads1220")
    assert run.n("inside_write") == 1
    assert run.n("start_token") in responses(run)
    assert run.n("armed") == 1 and run.n("sampling") == 1


def _check_whole(run: Run) -> None:
    """Every request answered once and OK, every sample period a sample or counted missed,
    the stream in order and in time, and its backfill equal to what went live."""
    tokens = sorted(r[1] for r in run.control)  # they wrap at 256
    assert tokens == sorted(k & 0xFF for k in range(1, run.n("requests") + 1))
    assert all(r[0] == 0x80 and r[3] == 0 for r in run.control)
    assert run.n("dropped_requests") == 0 and run.n("overwritten") == 0
    assert run.n("cal_writes") == 1
    periods = round((run.n("t_last") - run.n("t_first")) * 1000 / run.n("period_ns")) + 1
    assert run.n("samples") + run.n("missed") == periods
    assert stream_whole(run) > 0.9 * run.n("samples")


@pytest.mark.parametrize(
    ("kind", "chip"), [("stylus", "-"), ("grip", "ads1220"), ("grip", "hx711")]
)
def test_the_kit_holds_under_dense_preemption(kind: str, chip: str) -> None:
    # The whole firmware at its full rate, a computer pairing, writing every kind of request,
    # leaving and coming back, with Bluetooth events and the sampling handler taking over
    # between its statements. Another seed runs if the host was too busy to preempt enough.
    at_jump = callbacks = 0
    for seed in ("3", "4", "5"):
        run = kit("jumps", kind, chip, seed)
        _check_whole(run)
        at_jump += run.n("at_jump")
        callbacks += run.n("callbacks_at_jump")
        if at_jump >= 10 and callbacks >= 100:
            break
    assert at_jump >= 10 and callbacks >= 100, run.r
