from pathlib import Path

import pytest

from keel.simulate import DEFECTS, PRODUCERS, SimulationConfig, simulate


def _read_all(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.jsonl"))}


def test_same_seed_writes_identical_files(tmp_path):
    cfg = SimulationConfig(events=5_000, users=100, days=5, seed=11)
    simulate(cfg, tmp_path / "a")
    simulate(cfg, tmp_path / "b")
    assert _read_all(tmp_path / "a") == _read_all(tmp_path / "b")


def test_another_seed_writes_other_files(tmp_path):
    simulate(SimulationConfig(events=5_000, users=100, days=5, seed=1), tmp_path / "a")
    simulate(SimulationConfig(events=5_000, users=100, days=5, seed=2), tmp_path / "b")
    assert _read_all(tmp_path / "a") != _read_all(tmp_path / "b")


def test_writes_exactly_the_requested_records_by_producer_and_day(tmp_path):
    cfg = SimulationConfig(events=7_777, users=100, days=3, malformed_rate=0.02)
    result = simulate(cfg, tmp_path)
    lines = sum(p.read_bytes().count(b"\n") for p in result.files)
    assert lines == 7_777
    assert {p.parent.name for p in result.files} == set(PRODUCERS)
    assert all(p.stem.startswith("2026-01-0") for p in result.files)


def test_every_malformed_kind_appears(tmp_path):
    result = simulate(SimulationConfig(events=20_000, users=200, days=3, malformed_rate=0.05), tmp_path)
    assert set(result.defects) == set(DEFECTS)
    text = b"".join(p.read_bytes() for p in result.files)
    assert b'"add_to_wishlist"' in text          # unknown event name
    assert b'"yesterday evening"' in text        # unparseable timestamp
    assert b'"price":"N/A"' in text              # wrong type
    assert b'"event_time":"21' in text or b'"event_timestamp":4' in text  # far future
    assert max(len(line) for line in text.split(b"\n")) > 65_536  # oversized


def test_drift_lowers_conversion_after_the_drift_date(tmp_path):
    from datetime import date

    cfg = SimulationConfig(events=60_000, users=2_000, days=20, malformed_rate=0,
                           drift_date=date(2026, 1, 11), drift_conversion=0.3)
    result = simulate(cfg, tmp_path)
    before, after = [0, 0], [0, 0]
    for p in result.files:
        text = p.read_bytes()
        bucket = before if p.stem < "2026-01-11" else after
        bucket[0] += text.count(b'"purchase"')
        bucket[1] += text.count(b"\n")
    assert after[0] / after[1] < 0.6 * before[0] / before[1]


@pytest.mark.parametrize("knob", [{"events": 0}, {"malformed_rate": 0.9}, {"days": 0}])
def test_bad_knobs_fail_before_any_work(tmp_path, knob):
    with pytest.raises(ValueError):
        simulate(SimulationConfig(**knob), tmp_path)
    assert not tmp_path.joinpath("shop_a").exists()
