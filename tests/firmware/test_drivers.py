"""The firmware's sensor drivers on the simulated board, under MicroPython with a 128k heap.

Each test runs a script from tests/firmware/mpy/ (drv_*.py) that builds a simulated world, drives
the real driver against register-level chip models and prints JSON; the assertions here compare
what the driver read with the world's hidden truth.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest
from mpy_runner import run_mpy

MPY = Path(__file__).resolve().parent / "mpy"
BRIDGES = ["stylus", "nau7802", "ads1220", "hx711"]


def run(script: str, *args: str) -> dict[str, Any]:
    proc = run_mpy(MPY / script, *args)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return result


def expected_counts(truth: dict[str, Any], force: float, t_s: float) -> float:
    """Noise-free counts for a force reached from below (the load cell model in
    firmware/sim/chips/analog.py: linear + bow-shaped non-linearity + zero drift)."""
    fs = truth["full_scale_n"]
    f = min(max(force, 0.0), fs)
    x = f / fs
    fso = truth["counts_per_n"] * fs
    return (
        truth["offset_counts"]
        + truth["counts_per_n"] * f
        + truth["nonlinearity"] * fso * 4 * x * (1 - x)
        + truth["drift_counts_per_s"] * t_s
    )


# ---------------------------------------------------------------- bridge ADCs


@pytest.mark.parametrize("chip", BRIDGES)
@pytest.mark.parametrize("frac", [0.0, 0.3, 1.5])
def test_reads_the_applied_force_within_noise(chip: str, frac: float) -> None:
    full_scale = 10.0 if chip == "stylus" else 882.6
    force = frac * full_scale
    d = run("drv_read.py", chip, str(force))
    v, truth = d["values"], d["truth"]
    seconds = d["t1"] - d["t0"]
    assert len(v) == pytest.approx(d["rate"] * seconds, abs=2), "one result per conversion"
    exp = expected_counts(truth, force, (d["t0"] + d["t1"]) / 2)
    noise = truth["noise_rms_counts"]
    assert abs(statistics.mean(v) - exp) < 5 * noise / math.sqrt(len(v)) + 2
    assert 0.7 * noise < statistics.stdev(v) < 1.3 * noise
    assert d["irq_errors"] == 0
    if frac > 1:  # past the overload stop the reading stays at full scale
        assert statistics.mean(v) == pytest.approx(
            truth["offset_counts"] + truth["full_scale_counts"], abs=6 * noise
        )


@pytest.mark.parametrize("chip", ["nau7802", "ads1220", "hx711"])
def test_negative_counts_are_sign_extended(chip: str) -> None:
    # Seeds whose zero offset is negative: a driver that forgets the sign reads ~2**24 high.
    for seed in range(1, 30):
        d = run("drv_read.py", chip, "0", str(seed))
        if d["truth"]["offset_counts"] < -2000:
            break
    else:
        pytest.fail("no seed with a negative zero offset")
    assert statistics.mean(d["values"]) == pytest.approx(
        expected_counts(d["truth"], 0.0, d["t0"]), abs=4 * d["truth"]["noise_rms_counts"]
    )
    assert max(d["values"]) < 0


def test_nau7802_offset_calibration_removes_the_chip_offset() -> None:
    d = run("drv_read.py", "nau7802", "100")
    assert d["truth"]["chip_offset_counts"] == 0  # internal offset calibrated out by begin()
    assert d["truth"]["gain"] == d["gain"] == 128


@pytest.mark.parametrize("chip", ["nau7802", "ads1220", "hx711"])
def test_rate_switching_moves_the_drdy_interval(chip: str) -> None:
    d = run("drv_rates.py", chip)
    rates = d["rates"]
    supported = {"nau7802": [10, 20, 40, 80, 320], "hx711": [10, 80]}.get(
        chip, [20, 45, 90, 175, 330, 600, 1000, 2000]
    )
    for r in supported:
        got, mean_us, period_ns = rates[str(r)]
        assert got == r
        # Device-clock interval between DRDY interrupts: the chip's own period (its oscillator
        # is off by up to 2%), up to the seeded IRQ latency jitter averaged over ~40 edges.
        assert mean_us == pytest.approx(1e6 / r, rel=0.025)
        assert mean_us == pytest.approx(period_ns / 1000, abs=1.0)
    assert d["irq_errors"] == 0
    lo, hi = supported[0], supported[-1]
    assert rates["nearest"][0] == lo and rates["nearest"][-1] == hi


def test_long_run_keeps_the_exact_count_of_drdy_edges() -> None:
    d = run("drv_long.py", "nau7802", "60")
    assert d["handled"] == d["conversions"] == d["predicted"]
    assert d["handled"] == pytest.approx(60 * 320, rel=0.025)


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("chip", "mode", "words"),
    [
        ("nau7802", "nack", ["no ACK", "0x2A", "wiring"]),
        ("nau7802", "stuck", ["first conversion", "timed out"]),
        ("nau7802", "cal", ["calibration", "CAL_ERR"]),
        ("stylus", "nack", ["no ACK", "0x2A"]),
        ("ads1220", "nack", ["read back", "mode 1"]),
        ("ads1220", "stuck", ["DRDY", "START"]),
        ("ads1220", "spi_mode", ["phase=1"]),
        ("hx711", "nack", ["DOUT", "wiring"]),
        ("hx711", "stuck", ["DOUT", "no conversion"]),
    ],
)
def test_a_broken_chip_raises_sensorfault_with_a_helpful_message(
    chip: str, mode: str, words: list[str]
) -> None:
    d = run("drv_faults.py", chip, mode)
    assert d["raised"] == "SensorFault"
    for w in words:
        assert w in d["message"]
    assert d["seconds"] < 1.0, "every wait has a short timeout"


def test_an_i2c_chip_lost_after_begin_makes_read_raise() -> None:
    d = run("drv_faults.py", "stylus", "lost")
    assert d["raised"] is None
    assert d["read"] == "OSError 19"  # ENODEV, as the ESP32 port raises on a NACK


# ---------------------------------------------------------------- no allocation


@pytest.mark.parametrize("chip", BRIDGES)
def test_read_paths_allocate_nothing_under_heap_lock(chip: str) -> None:
    d = run("drv_strict.py", chip)
    assert d["irq_errors"] == 0, d["error"]
    expected = {"stylus": 200, "nau7802": 319, "ads1220": 1002, "hx711": 79}[chip]
    assert d["handled"] == pytest.approx(expected, abs=3)


def test_heap_lock_catches_an_allocating_handler() -> None:
    d = run("drv_strict.py", "nau7802", "alloc")
    assert d["irq_errors"] == 1
    assert "MemoryError" in d["error"]


# ---------------------------------------------------------------- HX711 protocol


def test_hx711_gain_pulses_power_down_and_dout_edges() -> None:
    d = run("drv_hx711.py")
    # 25, 26, 27 pulses select A/128, B/32, A/64 for the next conversion.
    assert (d["pulses_128"], d["pulses_64"], d["pulses_32"]) == (25, 27, 26)
    assert (d["sel_128"], d["sel_64"], d["sel_32"]) == (0, 2, 1)
    span = d["mean_128"] - d["internal_offset"]
    assert d["mean_64"] - d["internal_offset"] // 2 == pytest.approx(span / 2, rel=0.01)
    assert d["mean_32"] == pytest.approx(d["internal_offset"] / 4, abs=60)  # B: no bridge
    # SCK high > 60 us: power-down, reset to channel A gain 128, no data until it settles.
    assert d["power_downs"] == 1 and d["sel_after_pd"] == 0 and d["ready_after_pd"] is False
    # Every conversion gives one real edge; the read's own DOUT toggling adds one more,
    # which ready() rejects (a sampler must check it).
    assert d["edges_good"] == d["conversions"]
    assert d["edges_spurious"] == d["conversions"]


# ---------------------------------------------------------------- clock


def test_ticks_wrap_at_2_30_drift_and_timers() -> None:
    d = run("drv_ticks.py")
    period = 1 << 30
    assert all(0 <= t < period for t in d["us"] + d["ms"])
    assert d["us_diffs"] == [50000] * 7
    assert d["us"][4] < d["us"][3], "ticks_us wrapped"
    assert d["ms"][3] < d["ms"][2], "ticks_ms wrapped"
    assert d["add"] == [15, period - 5]
    assert d["diff_wrap"] == 10
    assert d["world_us"] == 10_000_000 and d["drift_us"] == 10_002_500
    assert d["timer"] == 2000 and d["timer_after_deinit"] == 2000
    assert d["timer_dev_us"] == pytest.approx(10_000_000, abs=100_000)


def test_realtime_world_follows_the_host_clock() -> None:
    d = run("drv_realtime.py")
    assert d["errors"] == 0
    assert d["ms"] == pytest.approx(500, abs=60)
    assert d["handled"] == pytest.approx(320 * d["ms"] / 1000, rel=0.2)


def test_realtime_callbacks_are_stamped_at_their_period_after_an_unrelated_lock() -> None:
    # The host fired timer periods late; a Bluetooth handler locked and unlocked the scheduler
    # before they ran: they still carry their own periods' times, 5 ms apart.
    d = run("drv_stamps.py")
    assert d["stamps"] >= 2  # 12 ms of a busy host (more if it was descheduled too)
    assert all(g == pytest.approx(5000, abs=30) for g in d["gaps"])
    assert d["before_unlock"] == d["stamps"]


# ---------------------------------------------------------------- FSR, button, LED, battery


def test_fsr_pads_read_the_divider_voltage() -> None:
    fa, fb = 1.0, 3.0
    d = run("drv_fsr.py", str(fa), str(fb))
    for force, vals, t in ((fa, d["a"], d["truth_a"]), (fb, d["b"], d["truth_b"])):
        g = force ** t["alpha"] / t["r1_ohm"] * t["r_fixed_ohm"]
        mv = t["vcc_mv"] * g / (1 + g)
        code = mv / 3100 * 4095 + t["adc_offset_lsb"]
        assert statistics.mean(vals) == pytest.approx(code, abs=3)
        assert 1 < statistics.stdev(vals) < 3 * t["adc_noise_lsb"]
    assert statistics.mean(d["b"]) > statistics.mean(d["a"])


@pytest.fixture(scope="module")
def ui() -> dict[str, Any]:
    return run("drv_ui.py")


def test_button_debounces_and_times_a_press(ui: dict[str, Any]) -> None:
    assert ui["idle_pressed"] is False
    held, waited = ui["press"]
    assert held == pytest.approx(150, abs=3)
    assert waited == pytest.approx(100 + 150 + 20, abs=5)
    assert ui["edges"] > 2, "the contacts bounced, yet one press was reported"
    assert ui["timeout"] == [0, pytest.approx(500, abs=2)]
    assert ui["tap"][0] == 0, "a 5 ms tap is contact noise, not a press"
    assert ui["long"][0] == pytest.approx(1200, abs=3)
    assert ui["held_pressed"] is True


def test_led_blinks(ui: dict[str, Any]) -> None:
    # Stylus LED is active low: off = high.
    assert ui["led_off_level"] == 1 and ui["led_on_level"] == 0
    assert ui["blink"][1] == pytest.approx(3 * 100 + 2 * 200, abs=2)
    assert ui["led_edges"] == [3, 3]
    assert ui["led_is_on"] is False


LIPO = [3270, 3610, 3690, 3710, 3730, 3750, 3770, 3790, 3800, 3820, 3840]
LIPO += [3850, 3870, 3910, 3950, 3980, 4020, 4080, 4110, 4150, 4200]


def curve(mv: float) -> float:
    if mv <= LIPO[0]:
        return 0.0
    for i in range(1, len(LIPO)):
        if mv < LIPO[i]:
            return 5 * (i - 1) + 5 * (mv - LIPO[i - 1]) / (LIPO[i] - LIPO[i - 1])
    return 100.0


def test_battery_voltage_and_percent(ui: dict[str, Any]) -> None:
    for mv, measured, pct in ui["battery"]:
        assert measured == pytest.approx(mv, abs=12)
        assert pct == pytest.approx(curve(measured), abs=2)  # percent() reads again
    pcts = ui["curve"]
    assert pcts[0] == 0 and pcts[-1] == 100
    assert all(a <= b for a, b in itertools.pairwise(pcts)), "monotonic"
    for i, p in enumerate(pcts):
        assert p == pytest.approx(curve(3000 + 10 * i), abs=1)


# ---------------------------------------------------------------- heap


@pytest.mark.parametrize(("kind", "chip"), [("stylus", ""), ("grip", "ads1220"), ("grip", "hx711")])
def test_simulation_and_drivers_fit_beside_the_firmware(kind: str, chip: str) -> None:
    """The simulated board is lean enough to share a 128k heap with the whole firmware, and
    runs the real simulated student through the drivers without an IRQ error."""
    d = run("drv_heap.py", kind, *([chip] if chip else []))
    assert d["errors"] == 0
    assert d["max"] - d["min"] > 50_000, "the student's force moves the counts"
    # Simulation modules, the World with its chip model, and the drivers (compiled from source);
    # the split moves with the interpreter's string pools, the sum does not.
    assert d["sim"] + d["world"] <= 52_000, d  # with the soft-IRQ scheduler and flash model
    assert d["sim"] + d["world"] + d["drivers"] <= 68_000, d
    assert d["running"] <= 2_000, d  # five simulated seconds leave nothing behind
    assert d["free"] >= 18_000, d
