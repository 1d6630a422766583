"""Bad input from the command line: one clear line on stderr, exit code 2, never a traceback."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    path = tmp_path / "plan.csv"
    np.savetxt(path, np.full((200, 3), 9), fmt="%d", delimiter=",")
    return path


def test_replay_runs_and_prices_a_plan(plan: Path, tmp_path: Path):
    demand = tmp_path / "demand"
    demand.mkdir()
    (demand / "d1.txt").write_text("\n".join(["9"] * 200))
    result = run("-m", "envs.replay", "--config", "configs/train_serial.yaml", "--orders", str(plan), "--demand_dir", str(demand))
    assert result.returncode == 0, result.stderr
    # demand 9 = orders 9 everywhere, but the four initial pipeline slots bring 10: each stage gains one unit
    # a period for 4 periods (11, 12, 13, 14 on hand), then holds 14 for the other 196 periods
    assert result.stdout.splitlines()[-1].split() == ["mean", "2794.0", "2794.0", "2794.0", "8382.0"]


def test_config_typo(plan: Path, tmp_path: Path):
    config = tmp_path / "typo.yaml"
    config.write_text("env:\n  serial:\n    lead_tme: 4\n")
    assert_one_line_error(run("-m", "envs.replay", "--config", str(config), "--orders", str(plan)), "lead_tme", "typo.yaml")


def test_override_typo(plan: Path):
    result = run("-m", "envs.replay", "--config", "configs/train_serial.yaml", "--orders", str(plan), "--set", "env.ordr_cap=5")
    assert_one_line_error(result, "env.ordr_cap")


def test_missing_demand_folder(plan: Path):
    result = run("-m", "envs.replay", "--config", "configs/train_serial.yaml", "--orders", str(plan), "--demand_dir", "no/such/dir")
    assert_one_line_error(result, "no/such/dir", "not found")


def test_bad_demand_line(plan: Path, tmp_path: Path):
    demand = tmp_path / "demand"
    demand.mkdir()
    (demand / "d1.txt").write_text("\n".join(["5"] * 120 + ["7.5"] + ["5"] * 79))
    result = run("-m", "envs.replay", "--config", "configs/train_serial.yaml", "--orders", str(plan), "--demand_dir", str(demand))
    assert_one_line_error(result, "d1.txt", "121")


def test_action_outside_action_space(tmp_path: Path):
    plan = tmp_path / "plan.csv"
    orders = np.full((200, 3), 9)
    orders[17, 1] = 25
    np.savetxt(plan, orders, fmt="%d", delimiter=",")
    result = run("-m", "envs.replay", "--config", "configs/train_serial.yaml", "--orders", str(plan))
    assert_one_line_error(result, "action 25", "stage_1", "0..20")


def test_missing_config_file(plan: Path):
    assert_one_line_error(run("-m", "envs.replay", "--config", "nope.yaml", "--orders", str(plan)), "nope.yaml", "not found")
