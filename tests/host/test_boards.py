"""The board pin maps: generated from hardware/pinmap/*.json, valid for the ESP32-S3 boards,
and consistent with the reference design's figures and parts list."""

from __future__ import annotations

import copy
import csv
import importlib.util
import json
import math
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
G_N = 9.80665  # standard gravity, N per kgf


def _load_gen() -> ModuleType:
    path = ROOT / "tools" / "gen_boards.py"
    spec = importlib.util.spec_from_file_location("gen_boards", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_boards"] = module
    spec.loader.exec_module(module)
    return module


gen = _load_gen()
KINDS = ("stylus", "grip")

# The names the firmware (fm.devices) and the simulation read: the generator must keep them.
CONTRACT = {
    "stylus": [
        "KIND", "BOARD", "I2C_ID", "I2C_SDA", "I2C_SCL", "I2C_FREQ", "NAU7802_ADDR",
        "NAU7802_DRDY", "FSR_A_ADC", "FSR_B_ADC", "BAT_ADC", "BAT_DIV_NUM", "BAT_DIV_DEN",
        "LED_PIN", "LED_ACTIVE_LOW", "BUTTON_PIN", "BUTTON_ACTIVE_LOW",
    ],
    "grip": [
        "KIND", "BOARD", "ADC_CHIP", "I2C_ID", "I2C_SDA", "I2C_SCL", "I2C_FREQ",
        "NAU7802_ADDR", "NAU7802_DRDY", "SPI_ID", "SPI_SCK", "SPI_MOSI", "SPI_MISO",
        "ADS1220_CS", "ADS1220_DRDY", "HX711_DOUT", "HX711_SCK", "BAT_ADC", "BAT_DIV_NUM",
        "BAT_DIV_DEN", "LED_PIN", "LED_ACTIVE_LOW", "BUTTON_PIN", "BUTTON_ACTIVE_LOW",
    ],
}  # fmt: skip

# Written out here, apart from the generator, so a wrong table there cannot pass unnoticed.
STRAPPING = {0, 3, 45, 46}
FLASH_PSRAM = set(range(26, 38))
USB_AND_CONSOLE = {19, 20, 43, 44}
ADC1 = set(range(1, 11))
BOARD_GPIOS = {
    "Seeed Studio XIAO ESP32S3": {1, 2, 3, 4, 5, 6, 7, 8, 9, 43, 44, 21},
    "Espressif ESP32-S3-DevKitC-1": {*range(0, 22), *range(35, 49)},
}


def pinmap(kind: str) -> dict[str, Any]:
    return dict(gen.load_pinmap(gen.pinmap_path(kind)))


def design(kind: str) -> dict[str, Any]:
    return dict(pinmap(kind)["design"])


def parts() -> list[dict[str, str]]:
    with (ROOT / "hardware" / "parts.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def part(device: str, ref: str) -> dict[str, str]:
    rows = [r for r in parts() if r["device"] == device and r["ref"] == ref]
    assert len(rows) == 1, f"parts.csv needs exactly one {device} {ref} row"
    return rows[0]


# --- generated files ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_board_file_matches_its_json(kind: str) -> None:
    assert gen.differences(kind) == []


@pytest.mark.parametrize("kind", KINDS)
def test_board_file_is_exactly_the_rendered_json(kind: str) -> None:
    text = gen.board_path(kind).read_text(encoding="utf-8")
    assert text == gen.render(pinmap(kind))
    assert text.startswith(f"# Pin map of the {pinmap(kind)['title']}")
    assert f"Generated from hardware/pinmap/{kind}.json by tools/gen_boards.py" in text
    assert "from micropython import const\n" in text


@pytest.mark.parametrize("kind", KINDS)
def test_board_file_values_round_trip(kind: str) -> None:
    text = gen.board_path(kind).read_text(encoding="utf-8")
    assert gen.parse_board_file(text) == gen.constant_values(pinmap(kind))
    for entry in gen.constants(pinmap(kind)):
        literal = re.search(rf"^{entry['name']} = (.*)$", text, re.MULTILINE)
        assert literal is not None
        if isinstance(entry["value"], str):
            assert literal.group(1) == f'"{entry["value"]}"'
        else:
            assert literal.group(1).startswith("const(")


@pytest.mark.parametrize("kind", KINDS)
def test_constant_names_are_the_firmware_contract(kind: str) -> None:
    assert [e["name"] for e in gen.constants(pinmap(kind))] == CONTRACT[kind]


def _run_gen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_boards.py"), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_mode_passes_on_this_tree() -> None:
    proc = _run_gen("--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _copy_tree(tmp_path: Path) -> Path:
    for sub in ("hardware/pinmap", "firmware/boards"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    return tmp_path


def test_check_mode_names_a_changed_pin(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    path = root / "hardware/pinmap/grip.json"
    data = json.loads(path.read_text())
    for entry in data["constants"]:
        if entry["name"] == "LED_PIN":
            entry["value"], entry["board_pin"] = 18, "J1-11"
    path.write_text(json.dumps(data))
    proc = _run_gen("--check", "--root", str(root))
    assert proc.returncode == 1
    assert "firmware/boards/grip.py: LED_PIN is 21, hardware/pinmap/grip.json says 18" in (
        proc.stdout
    )
    # Regenerating fixes it, and only the changed line moves.
    before = (root / "firmware/boards/grip.py").read_text()
    assert _run_gen("--root", str(root)).returncode == 0
    after = (root / "firmware/boards/grip.py").read_text()
    changed = set(before.splitlines()) ^ set(after.splitlines())
    assert changed == {"LED_PIN = const(21)", "LED_PIN = const(18)"}
    assert _run_gen("--check", "--root", str(root)).returncode == 0


def test_check_mode_names_a_hand_edit(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    py = root / "firmware/boards/stylus.py"
    py.write_text(py.read_text().replace("BAT_ADC = const(9)", "BAT_ADC = const(3)") + "X = 1\n")
    diffs = gen.differences("stylus", root)
    assert "firmware/boards/stylus.py: BAT_ADC is 3, hardware/pinmap/stylus.json says 9" in diffs
    assert "firmware/boards/stylus.py: X is not in hardware/pinmap/stylus.json" in diffs


def test_check_mode_reports_a_missing_board_file(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    (root / "firmware/boards/grip.py").unlink()
    assert gen.differences("grip", root) == [
        "firmware/boards/grip.py: missing (run python tools/gen_boards.py)"
    ]


# --- pins valid for the ESP32-S3 and the boards ------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_pinmap_validates(kind: str) -> None:
    assert gen.validate(pinmap(kind), expected_kind=kind) == []


@pytest.mark.parametrize("kind", KINDS)
def test_every_pin_is_a_usable_gpio_of_its_board(kind: str) -> None:
    pm = pinmap(kind)
    usable = BOARD_GPIOS[pm["board"]]
    for entry in gen.pin_entries(pm):
        gpio = entry["value"]
        assert gpio in usable, f"{entry['name']}: GPIO{gpio} not on {pm['board']}"
        assert gpio not in STRAPPING, f"{entry['name']}: GPIO{gpio} is a strapping pin"
        assert gpio not in FLASH_PSRAM, f"{entry['name']}: GPIO{gpio} is a flash/PSRAM pin"
        assert gpio not in USB_AND_CONSOLE, f"{entry['name']}: GPIO{gpio} is USB/console"
        if entry["role"] == "adc":
            assert gpio in ADC1, f"{entry['name']}: GPIO{gpio} is not on ADC1"


@pytest.mark.parametrize("kind", KINDS)
def test_every_pin_is_used_once(kind: str) -> None:
    gpios = [e["value"] for e in gen.pin_entries(pinmap(kind)) if not e.get("shared_with")]
    assert len(gpios) == len(set(gpios))


def test_analogue_inputs_are_the_ones_expected() -> None:
    adc = {k: {e["name"] for e in gen.pin_entries(pinmap(k)) if e["role"] == "adc"} for k in KINDS}
    assert adc == {"stylus": {"FSR_A_ADC", "FSR_B_ADC", "BAT_ADC"}, "grip": {"BAT_ADC"}}


def _set(which: str, /, **fields: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(pm: dict[str, Any]) -> None:
        for entry in pm["constants"]:
            if entry["name"] == which:
                entry.update(fields)

    return mutate


BROKEN: list[tuple[str, str, Callable[[dict[str, Any]], None], str]] = [
    ("stylus", "strapping", _set("BAT_ADC", value=3, board_pin="D2"), "strapping pin"),
    ("grip", "adc2", _set("BAT_ADC", value=11, board_pin="J1-17"), "not an ADC1 input"),
    ("grip", "flash", _set("LED_PIN", value=37, board_pin="J3-11"), "PSRAM pin"),
    ("grip", "rgb_led", _set("LED_PIN", value=38, board_pin="J3-10"), "RGB LED"),
    ("grip", "usb", _set("LED_PIN", value=20, board_pin="J3-19"), "USB"),
    ("stylus", "console", _set("BUTTON_PIN", value=43, board_pin="D6"), "console"),
    ("stylus", "off_board", _set("I2C_SDA", value=10, board_pin="D4"), "not broken out"),
    ("stylus", "label", _set("I2C_SDA", board_pin="D5"), "board_pin is 'D5'"),
    ("stylus", "twice", _set("LED_PIN", value=7, board_pin="D8"), "GPIO7 is used by"),
    ("stylus", "kind", _set("KIND", value="grip"), "KIND constant"),
    ("grip", "chip", _set("ADC_CHIP", value="hx711"), "ADC_CHIP constant"),
    ("grip", "no_desc", _set("SPI_ID", description=""), "description"),
    ("grip", "bad_name", _set("SPI_ID", name="spi_id"), "UPPER_CASE"),
    ("grip", "str_int", _set("I2C_FREQ", value="400k"), "integer"),
]


@pytest.mark.parametrize(
    ("kind", "mutate", "expect"), [(k, m, e) for k, _, m, e in BROKEN], ids=[b[1] for b in BROKEN]
)
def test_validator_rejects(
    kind: str, mutate: Callable[[dict[str, Any]], None], expect: str
) -> None:
    pm = copy.deepcopy(pinmap(kind))
    mutate(pm)
    problems = gen.validate(pm)
    assert any(expect in p for p in problems), problems
    with pytest.raises(gen.PinMapError):
        gen.render(pm)


def test_validator_accepts_a_deliberately_shared_pin() -> None:
    pm = copy.deepcopy(pinmap("grip"))
    _set("HX711_SCK", value=12, board_pin="J1-18", shared_with=["SPI_SCK"])(pm)
    assert any("does not declare it shared" in p for p in gen.validate(pm))
    _set("SPI_SCK", shared_with=["HX711_SCK"])(pm)
    assert gen.validate(pm) == []


def test_grip_adc_chip_is_the_default_and_has_a_design() -> None:
    pm = pinmap("grip")
    assert pm["adc_chip"] == "nau7802"
    assert set(pm["design"]["adc_options"]) == set(gen.ADC_CHIPS)


@pytest.mark.parametrize("kind", KINDS)
def test_wiring_tables_show_every_pin(kind: str) -> None:
    wiring = (ROOT / "hardware" / "wiring.md").read_text(encoding="utf-8")
    section = wiring.split(f"<!-- {kind} -->")[1].split("<!-- end -->")[0]
    for entry in gen.pin_entries(pinmap(kind)):
        rows = [r for r in section.splitlines() if f"`{entry['name']}`" in r]
        assert rows, f"wiring.md ({kind}) has no row for {entry['name']}"
        assert any(re.search(rf"\bGPIO{entry['value']}\b", r) for r in rows), entry["name"]
        assert any(entry["board_pin"] in r for r in rows), entry["name"]


# --- the design's figures ----------------------------------------------------------------


def _close(a: float, b: float, rel: float = 0.005) -> bool:
    return math.isclose(a, b, rel_tol=rel)


def test_stylus_resolution_from_first_principles() -> None:
    tip = design("stylus")["tip_force"]
    # Sensor: mV per gram at the reference excitation -> V/V per newton (1 N = 1000/g grams).
    s_vv_per_n = tip["sensor_sensitivity_mv_per_g_at_5v"] * 1e-3 / tip["sensor_excitation_ref_v"]
    s_vv_per_n *= 1000.0 / G_N
    # NAU7802: full scale +-0.5 Vref / gain over 2^24 codes; Vref = excitation (ratiometric).
    lsb_v = 2 * tip["adc_fsr_factor"] * tip["ldo_v"] / (tip["pga_gain"] * 2 ** tip["adc_bits"])
    uv_per_n = s_vv_per_n * tip["ldo_v"] * 1e6
    counts_per_n = uv_per_n * 1e-6 / lsb_v
    assert _close(counts_per_n, s_vv_per_n * tip["pga_gain"] * 2 ** tip["adc_bits"])
    assert _close(counts_per_n, tip["counts_per_n"])
    assert _close(uv_per_n, tip["sensitivity_uv_per_n"])
    noise_free_n = tip["noise_pp_per_rms"] * tip["input_noise_uv_rms_planning"] / uv_per_n
    assert _close(noise_free_n, tip["noise_free_resolution_n"], rel=0.05)
    assert noise_free_n <= tip["resolution_target_n"]
    assert tip["range_n"] <= tip["sensor_operating_range_n"]
    assert tip["sample_rate_hz"] <= tip["adc_rate_sps"] == 320


def test_stylus_range_fits_the_adc_for_a_worst_case_sensor() -> None:
    tip = design("stylus")["tip_force"]
    ratio = tip["ldo_v"] / tip["sensor_excitation_ref_v"]
    worst_mv_per_n = tip["sensor_sensitivity_max_mv_per_g_at_5v"] * ratio * 1000.0 / G_N
    worst_mv = worst_mv_per_n * tip["range_n"] + tip["sensor_null_offset_mv_at_5v"] * ratio
    fsr_mv = tip["adc_fsr_factor"] * tip["ldo_v"] / tip["pga_gain"] * 1e3
    assert worst_mv < fsr_mv
    # The next gain step up would clip a worst-case sensor before 10 N.
    assert worst_mv > fsr_mv / 2


@pytest.mark.parametrize("chip", ["nau7802", "ads1220", "hx711"])
def test_grip_resolution_from_first_principles(chip: str) -> None:
    d = design("grip")
    cell, opt = d["load_cell"], d["adc_options"][chip]
    s_vv_per_n = cell["rated_output_mv_per_v"] * 1e-3 / cell["rated_capacity_n"]
    lsb_v = 2 * opt["adc_fsr_factor"] * opt["ref_v"] / (opt["pga_gain"] * 2 ** opt["adc_bits"])
    v_per_n = s_vv_per_n * opt["excitation_v"]
    counts_per_n = v_per_n / lsb_v
    assert _close(counts_per_n, opt["counts_per_n"])
    noise_free_n = d["noise_pp_per_rms"] * opt["input_noise_uv_rms_planning"] * 1e-6 / v_per_n
    assert _close(noise_free_n, opt["noise_free_resolution_n"], rel=0.05)
    # The whole 0-90 kg range stays inside the ADC's positive full scale.
    assert v_per_n * cell["range_n"] < opt["adc_fsr_factor"] * opt["ref_v"] / opt["pga_gain"]
    assert _close(cell["range_n"], 90 * G_N, rel=1e-3)
    assert opt["rfd_capable"] == (opt["rate_sps"] >= cell["rfd_min_rate_sps"])
    assert noise_free_n < 2 * G_N / 10  # better than 0.2 kgf with pessimistic noise


def test_grip_bridge_current_is_within_the_nau7802_ldo_drive() -> None:
    d = design("grip")
    opt = d["adc_options"]["nau7802"]
    bridge_ma = opt["excitation_v"] / d["load_cell"]["bridge_ohm"] * 1e3
    assert _close(bridge_ma, d["power"]["budget_ma"]["bridge_excitation"], rel=0.01)
    assert bridge_ma < 10.0 * 0.8  # datasheet: >= 10 mA drive at 3.0 V; keep 20 % margin


@pytest.mark.parametrize("kind", KINDS)
def test_battery_divider_matches_the_constants(kind: str) -> None:
    values = gen.constant_values(pinmap(kind))
    div = design(kind)["battery_sense"]
    ratio = (div["r_top_ohm"] + div["r_bottom_ohm"]) / div["r_bottom_ohm"]
    assert _close(ratio, values["BAT_DIV_NUM"] / values["BAT_DIV_DEN"], rel=1e-9)
    assert div["vbat_max_v"] / ratio <= div["adc_max_v"]


@pytest.mark.parametrize("kind", KINDS)
def test_power_budget_adds_up(kind: str) -> None:
    p = design(kind)["power"]
    total = sum(p["budget_ma"].values())
    assert _close(total, p["total_ma"], rel=0.002)
    if "converter_efficiency" in p:
        battery_ma = total * design(kind)["supply_v"]
        battery_ma /= p["converter_efficiency"] * p["battery_nominal_v"]
    else:  # linear regulator: the battery supplies the load current itself
        battery_ma = total
    assert _close(battery_ma, p["battery_current_ma"], rel=0.005)
    life_h = p["battery_mah"] * p["usable_fraction"] / battery_ma
    assert round(life_h, 1) == p["life_h"]


# --- the parts list ----------------------------------------------------------------------


def test_parts_rows_are_complete() -> None:
    rows = parts()
    assert rows
    for row in rows:
        assert row["device"] in KINDS, row
        assert row["manufacturer"].strip() and row["mpn"].strip(), row
        assert int(row["qty"]) >= 1, row
        for col in ("range_min", "range_max", "resolution", "rate_max", "current_ma"):
            if row[col]:
                float(row[col])
    keys = [(r["device"], r["ref"]) for r in rows]
    assert len(keys) == len(set(keys))


def test_parts_agree_with_the_stylus_design() -> None:
    tip = design("stylus")["tip_force"]
    sensor, adc = part("stylus", tip["parts_ref"]), part("stylus", tip["adc_parts_ref"])
    assert sensor["mpn"] in tip["sensor"] and sensor["manufacturer"] in tip["sensor"]
    assert float(sensor["range_max"]) == tip["sensor_operating_range_n"]
    assert _close(float(sensor["range_max"]), 1.5 * G_N, rel=1e-3)  # 1500 g
    assert adc["mpn"].startswith(tip["adc"])
    assert float(adc["rate_max"]) == tip["adc_rate_sps"]
    assert float(adc["resolution"]) == tip["noise_free_resolution_n"]
    assert float(adc["resolution"]) <= tip["resolution_target_n"]
    fsr = design("stylus")["barrel_fsr"]
    assert int(part("stylus", fsr["parts_ref"])["qty"]) == fsr["channels"]
    assert part("stylus", design("stylus")["power"]["battery_parts_ref"])


def test_parts_agree_with_the_grip_design() -> None:
    d = design("grip")
    cell = part("grip", d["load_cell"]["parts_ref"])
    assert _close(float(cell["range_max"]), d["load_cell"]["rated_capacity_n"], rel=1e-6)
    assert float(cell["range_max"]) >= d["load_cell"]["range_n"]
    for chip, opt in d["adc_options"].items():
        row = part("grip", opt["parts_ref"])
        assert row["mpn"].lower().startswith(chip), (chip, row["mpn"])
        assert float(row["rate_max"]) >= opt["rate_sps"]
        assert float(row["resolution"]) == opt["noise_free_resolution_n"]
    assert float(part("grip", "U2B")["rate_max"]) == 80  # HX711: peak and fatigue, no RFD
    assert part("grip", d["power"]["battery_parts_ref"])
