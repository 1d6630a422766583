"""Seeded random inputs (issue 12): 1,000 config values, demand files and order plans, each either accepted
and usable or refused with a one-line UserError (exit 2 on the command line); never another exception.

The cases run in-process through the functions the commands call (``config_from_dict``, ``make_env`` and a
few periods of stepping, ``read_demand_folder``, ``read_order_plan``); test_fuzzed_commands runs a few as
real processes. Random generation is seeded (numpy), so a failure names a case that reproduces.
"""
from __future__ import annotations

import copy
import subprocess
import sys
import traceback
from pathlib import Path

import numpy as np
import yaml

from envs import make_env
from envs.replay import read_order_plan
from utils.config import config_from_dict, config_to_dict, load_config
from utils.data_loader import MAX_UNITS, WHOLE_NUMBER, read_demand_folder
from utils.validation import MAX_UNIT_COST
from utils.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
N_CONFIG, N_DEMAND, N_PLAN = 600, 250, 150  # 1,000 cases

#: values a hostile but fair user might type, of every YAML type
VALUES = [0, 1, 2, 3, -1, -7, 20, 10**6, 10**12, 2**63, -(2**63) - 1, 0.0, 0.5, -0.5, 1e308, float("nan"), float("inf"),
          float("-inf"), "", "abc", "1e3", "nan", "../x", "serial", "network", "custom", True, False, None, [], [1],
          [1, 2, 3], [-1, 1], [0.5, float("nan")], [[1]], {}, {"x": 1}, {"name": "a"}]


def leaves(data: dict, prefix: tuple = ()) -> list[tuple]:
    out = []
    for key, value in data.items():
        out += leaves(value, prefix + (key,)) if isinstance(value, dict) and value else [prefix + (key,)]
    return out


def mutated_config(rng: np.random.Generator, base: dict) -> dict:
    data = copy.deepcopy(base)
    paths = leaves(data)
    for _ in range(int(rng.integers(1, 3))):
        path = paths[int(rng.integers(len(paths)))]
        node = data
        for key in path[:-1]:
            node = node[key]
        roll = rng.random()
        if roll < 0.5:
            value = VALUES[int(rng.integers(len(VALUES)))]
        elif roll < 0.9:  # a plausible number near the current one
            current = node[path[-1]]
            value = int(rng.integers(-3, 60)) if isinstance(current, int) else float(rng.normal(1.0, 2.0))
        else:
            path = path[:-1] + ("no_such_key",)
            value = 1
        node[path[-1]] = value
    return data


def use_config(data: dict, rng: np.random.Generator) -> None:
    """What a command does with a config: validate, build the env, step it a few periods."""
    config = config_from_dict(data, "fuzz")
    # accepted values obey the bounds the validation promises
    s = config.env.serial
    assert all(0 <= v <= MAX_UNIT_COST for v in s.holding_cost + s.backlog_cost + s.unit_order_cost + [s.fixed_order_cost])
    assert config.seed >= 0 and "/" not in config.name
    env = make_env(config.env, n_envs=2, demand_config=config.demand, seed=config.seed)
    env.reset(demand=rng.integers(0, 5, size=(2, config.env.episode_length, env.n_streams)))
    for _ in range(min(3, config.env.episode_length)):
        actions = rng.integers(0, env.action_nvec[None], size=(2,) + env.action_nvec.shape)
        _, rewards, _, _, info = env.step(actions)
        assert np.isfinite(rewards).all() and (info["cost"] >= 0).all()


def random_line(rng: np.random.Generator) -> str:
    pool = ["5", "0", "12", "4.0", "007", "1_0", "-3", "1e30", "", " 5 ", "5.5", "+5", "٣", "0x1f", "nan", "inf",
            "9" * 13, "9" * 30, "5,5", "\x00", "5 5", "\t7"]
    if rng.random() < 0.96:
        return str(int(rng.integers(0, 30)))
    return pool[int(rng.integers(len(pool)))]


def random_text(rng: np.random.Generator, n_lines: int, make_line) -> bytes:
    if rng.random() < 0.08:
        return rng.bytes(int(rng.integers(1, 200)))  # not text at all
    lines = [make_line() for _ in range(n_lines)]
    for _ in range(int(rng.integers(1, 3)) if rng.random() < 0.3 else 0):  # a few random characters
        i = int(rng.integers(len(lines)))
        lines[i] = lines[i] + chr(int(rng.integers(1, 0x3000)))
    end = "\r\n" if rng.random() < 0.2 else "\n"
    return end.join(lines).encode("utf-8", errors="surrogatepass")


def test_a_thousand_random_inputs_are_accepted_or_refused_in_one_line(tmp_path):
    rng = np.random.default_rng(12)
    failures: list[str] = []
    outcomes = {(kind, result): 0 for kind in ("config", "demand", "plan") for result in ("accepted", "refused")}

    def attempt(kind: str, case: int, action) -> None:
        try:
            action()
            outcomes[kind, "accepted"] += 1
        except UserError:
            outcomes[kind, "refused"] += 1
        except Exception:  # noqa: BLE001 (every other exception is a failure to report)
            failures.append(f"{kind} case {case}: {traceback.format_exc(limit=3)}")

    serial = config_to_dict(load_config(ROOT / "configs" / "train_serial.yaml", ["env.episode_length=20", "residual.enabled=false"]))
    network = config_to_dict(load_config(ROOT / "configs" / "train_network.yaml", ["env.episode_length=20"]))
    for case in range(N_CONFIG):
        data = mutated_config(rng, serial if case % 3 else network)
        attempt("config", case, lambda: use_config(data, rng))

    for case in range(N_DEMAND):
        folder = tmp_path / f"demand_{case}"
        folder.mkdir()
        length = int(rng.integers(1, 30))
        content = random_text(rng, length, lambda: random_line(rng))
        (folder / "d1.txt").write_bytes(content)
        (folder / "d2.txt").write_bytes(b"\n".join(b"3" for _ in range(length)))

        def read_demand() -> None:
            demand = read_demand_folder(folder).demand  # (2, T, 1)
            lines = content.decode("utf-8").splitlines()
            while lines and not lines[-1].strip():
                lines.pop()
            # accepted: every line was a whole number of units, read as written
            assert all(WHOLE_NUMBER.fullmatch(x.strip()) and int(x.strip().split(".")[0]) <= MAX_UNITS for x in lines)
            assert demand[0, :, 0].tolist() == [int(x.strip().split(".")[0]) for x in lines]

        attempt("demand", case, read_demand)

    nvec = np.array([[21], [21], [21]])
    for case in range(N_PLAN):
        path = tmp_path / f"plan_{case}.csv"
        rows = 10 if rng.random() < 0.8 else int(rng.integers(8, 13))
        sep = ", " if rng.random() < 0.5 else " "

        def order() -> str:
            return str(int(rng.integers(0, 21))) if rng.random() < 0.98 else random_line(rng)

        path.write_bytes(random_text(rng, rows, lambda: sep.join(order() for _ in range(3 if rng.random() < 0.99 else 2))))
        attempt("plan", case, lambda: read_order_plan(path, nvec, ["a", "b", "c"], 10))

    assert not failures, f"{len(failures)} of 1,000 cases raised:\n" + "\n".join(failures[:5])
    assert sum(outcomes.values()) == N_CONFIG + N_DEMAND + N_PLAN
    # both outcomes occur often for every kind: the generator reaches past the checks and gives usable inputs
    assert min(outcomes.values()) >= 40, outcomes


def test_fuzzed_commands(tmp_path):
    """A few random configs, demand files and plans through `python -m envs.replay`: exit 0 or 2, never a traceback."""
    rng = np.random.default_rng(5)
    serial = config_to_dict(load_config(ROOT / "configs" / "train_serial.yaml", ["env.episode_length=10"]))
    codes = []
    for case in range(3):
        config = tmp_path / f"c{case}.yaml"
        data = mutated_config(rng, serial) if case else serial
        config.write_text(yaml.safe_dump(data))
        demand = tmp_path / f"demand_{case}"
        demand.mkdir()
        (demand / "d1.txt").write_bytes(random_text(rng, 10, lambda: random_line(rng)) if case else b"5\n" * 10)
        plan = tmp_path / f"plan_{case}.csv"
        plan.write_text("\n".join(["3,3,3"] * 10))
        proc = subprocess.run([sys.executable, "-m", "envs.replay", "--config", str(config), "--orders", str(plan),
                               "--demand_dir", str(demand)], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode in (0, 2) and "Traceback" not in proc.stderr, proc.stderr
        assert proc.returncode == 0 or len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        codes.append(proc.returncode)
    assert codes[0] == 0  # the unmutated case runs
