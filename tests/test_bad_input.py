"""Every class of bad input found by trying the project as a hostile but fair user (issue 12): the command
exits with code 2 and one line on stderr naming the problem, never a traceback, and no file is created or
changed. The commands run in-process (``run_cli`` around each ``main``, as ``python X.py`` does) so the
whole file takes seconds; test_subprocess_cases runs a few of them as real processes.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import evaluate_main
import train_main
from envs import replay
from utils.errors import run_cli
from utils.files import folder_lock

ROOT = Path(__file__).resolve().parents[1]
SERIAL = str(ROOT / "configs" / "train_serial.yaml")
NETWORK = str(ROOT / "configs" / "train_network.yaml")
#: a training of one iteration of 2 envs x 8 periods: seconds, not minutes
TINY = ["train.n_envs=2", "env.episode_length=8", "train.total_env_steps=16", "train.eval_every=1",
        "demand.validation_episodes=2", "train.n_minibatches=1", "train.ppo_epochs=1", "residual.enabled=false"]


def snapshot(*folders: Path) -> dict[str, str]:
    """Path -> content hash of every file under the folders (what a failed command must leave as it was)."""
    files = {}
    for folder in folders:
        for p in sorted(folder.rglob("*")) if folder.exists() else []:
            files[str(p)] = hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return files


@pytest.fixture
def cli(monkeypatch, capsys, tmp_path):
    """cli(module, *args, needles=...) runs `python -m module args` in-process from the project folder and
    checks the contract: exit code 2, exactly one line on stderr holding every needle, nothing under
    tmp_path or results/ (the default output folder) created or changed."""
    monkeypatch.chdir(ROOT)

    def run(module, *args: str, needles: tuple[str, ...] = (), watch: tuple[Path, ...] = ()) -> str:
        """watch: more folders that must stay as they were (a run folder given to --resume)."""
        folders = (tmp_path, ROOT / "results", *watch)
        before = snapshot(*folders)
        monkeypatch.setattr(sys, "argv", [module.__name__, *args])
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            run_cli(module.main)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        for needle in needles:
            assert needle in lines[0], lines[0]
        assert snapshot(*folders) == before, "a failed command created or changed files"
        return lines[0]

    return run


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A finished one-iteration serial run: <out>/tiny_run_<stamp>/ and <out>/serial_policy.pt."""
    out = tmp_path_factory.mktemp("tiny")
    config = train_main.load_config(SERIAL, TINY + [f"out_dir={out}", "name=tiny_run"])
    return train_main.train(config, log=lambda _: None).run_dir


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def plan_file(tmp_path: Path, rows: list[str]) -> Path:
    return write(tmp_path / "in" / "plan.csv", "\n".join(rows) + "\n")


def demand_dir(tmp_path: Path, lines: list[str]) -> Path:
    write(tmp_path / "in" / "demand" / "d1.txt", "\n".join(lines) + "\n")
    return tmp_path / "in" / "demand"


# 1. sizes nobody can allocate ------------------------------------------------------------------------
@pytest.mark.parametrize("override", ["train.n_envs=1000000000000", "env.episode_length=100000000000",
                                      "env.order_cap=1000000000000", "env.serial.lead_time=1000000000000"])
def test_1_sizes_beyond_memory_are_refused_before_allocating(cli, tmp_path, override):
    cli(train_main, "--config", SERIAL, "--set", override, "--out", str(tmp_path / "out"),
        needles=("the config needs at least", "GiB", "are available"))


# 2. files that are not UTF-8 -------------------------------------------------------------------------
def test_2_config_and_orders_that_are_not_utf8(cli, tmp_path):
    config = write(tmp_path / "in" / "latin1.yaml", "name: s\xe9rie\n".encode("latin-1"))
    cli(train_main, "--config", str(config), needles=("latin1.yaml", "not UTF-8"))
    orders = write(tmp_path / "in" / "orders.bin", bytes(range(256)))
    cli(replay, "--config", SERIAL, "--orders", str(orders), needles=("orders.bin", "not UTF-8"))
    demand = write(tmp_path / "in" / "bin" / "d1.txt", b"\xff\xfe\x00")
    cli(replay, "--config", SERIAL, "--orders", str(orders), "--demand_dir", str(demand.parent), needles=("d1.txt", "not UTF-8"))


# 3. values beyond int64 ------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["1e30", "99999999999999999999999", "1000000000001"])
def test_3_demand_beyond_int64(cli, tmp_path, value):
    folder = demand_dir(tmp_path, ["5"] * 10 + [value] + ["5"] * 189)
    cli(evaluate_main, "--config", SERIAL, "--eval_dir", str(folder), "--policy", "constant_order",
        needles=("d1.txt", "line 11", "whole number"))


def test_3_orders_and_config_integers_beyond_int64(cli, tmp_path):
    plan = plan_file(tmp_path, ["99999999999999999999999,1,1"] + ["1,1,1"] * 199)
    cli(replay, "--config", SERIAL, "--orders", str(plan), needles=("plan.csv", "line 1", "action"))
    cli(train_main, "--config", SERIAL, "--set", "train.total_env_steps=99999999999999999999999",
        needles=("train.total_env_steps", "64-bit"))


# 4. negative seeds -----------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [["--seed", "-1"], ["--set", "demand.validation_seed=-5"], ["--set", "seed=9223372036854775808"]])
def test_4_seeds_outside_0_to_2_63(cli, args):
    cli(train_main, "--config", SERIAL, *args, needles=("seed",))


# 5. outputs that cannot be written, checked before any work -------------------------------------------
def test_5_outputs_are_checked_before_any_work(cli, tmp_path):
    folder = tmp_path / "a_folder"
    folder.mkdir()
    a_file = write(tmp_path / "a_file.txt", "keep me")
    # no such --eval_dir: had the evaluation started, its error would come first
    common = ("--config", SERIAL, "--policy", "constant_order", "--eval_dir", str(tmp_path / "no_such_dir"))
    cli(evaluate_main, *common, "--output_json", str(folder), needles=("--output_json", "is a folder"))
    cli(evaluate_main, *common, "--plots", str(a_file), needles=("--plots", "is a file"))
    cli(evaluate_main, *common, "--output_json", str(a_file / "x.json"), needles=("--output_json", "is a file, not a folder"))
    cli(train_main, "--config", SERIAL, "--out", str(a_file / "out"), needles=("out_dir", "is a file, not a folder"))


@pytest.mark.skipif(sys.platform == "win32" or __import__("os").geteuid() == 0, reason="root writes into read-only folders")
def test_5_read_only_out(cli, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        cli(train_main, "--config", SERIAL, "--out", str(folder / "out"), needles=("read-only",))
    finally:
        folder.chmod(0o755)


# 6. negative costs (serial and network) ----------------------------------------------------------------
CUSTOM_NETWORK = """
env:
  kind: network
  network:
    preset: custom
    nodes: [{name: r, holding_cost: 1.0, shortage_cost: 2.0, customer_stream: 0}]
    edges: [{supplier: outside, customer: r, lead_time: 2}]
demand: {max_demand: 4}
"""


def test_6_negative_costs(cli, tmp_path):
    for override in ("env.serial.holding_cost=-1", "env.serial.backlog_cost=[1,-1,1]", "env.serial.unit_order_cost=-0.5"):
        cli(train_main, "--config", SERIAL, "--set", override, needles=("must be >= 0",))
    # a finite but huge cost would overflow an episode's cost to inf (and NaN rewards)
    cli(train_main, "--config", SERIAL, "--set", "env.serial.holding_cost=1e308", needles=("holding_cost[0]", "at most"))
    network = write(tmp_path / "in" / "net.yaml", CUSTOM_NETWORK)
    cli(train_main, "--config", str(network), "--set", "env.network.nodes=[{name: r, shortage_cost: -2.0, customer_stream: 0}]",
        needles=("env.network.nodes[0].shortage_cost", ">= 0"))
    cli(train_main, "--config", str(network), "--set", "env.network.edges=[{supplier: outside, customer: r, shipping_cost: -1}]",
        needles=("env.network.edges[0].shipping_cost", ">= 0"))


# 7. NaN and infinite costs; a model with non-finite weights ---------------------------------------------
@pytest.mark.parametrize("override", ["env.serial.backlog_cost=.nan", "env.serial.holding_cost=.inf",
                                      "env.serial.fixed_order_cost=-.inf", "train.lr_actor=nan"])
def test_7_non_finite_numbers(cli, override):
    cli(train_main, "--config", SERIAL, "--set", override, needles=("finite",))


def test_7_model_with_non_finite_weights_is_refused(cli, tmp_path, tiny_run):
    data = torch.load(tiny_run / "best.pt", weights_only=True)
    first = next(iter(data["actors"]))
    data["actors"][first] = torch.full_like(data["actors"][first], float("nan"))
    torch.save(data, tmp_path / "nan.pt")
    cli(evaluate_main, "--config", SERIAL, "--model_path", str(tmp_path / "nan.pt"), needles=("nan.pt", "non-finite weights"))


def test_7_a_nan_validation_cost_never_becomes_the_best(tmp_path, monkeypatch):
    keep = write(tmp_path / "out" / "serial_policy.pt", b"a trained policy")
    import agents.training  # the training loop train_main runs

    monkeypatch.setattr(agents.training, "evaluate_policy", lambda *a, **k: {"mean_cost": float("nan")})
    lines: list[str] = []
    result = train_main.train(train_main.load_config(SERIAL, TINY + [f"out_dir={tmp_path / 'out'}"]), log=lines.append)
    assert np.isnan(result.best_eval_cost) and not (result.run_dir / "best.pt").exists()
    assert keep.read_bytes() == b"a trained policy"
    assert lines[-1].startswith("no finite validation cost in this run")


# 8. network order cap 0 --------------------------------------------------------------------------------
def test_8_network_order_cap_zero(cli):
    cli(train_main, "--config", NETWORK, "--set", "env.network.max_order_per_supplier=0",
        needles=("env.network.max_order_per_supplier", "at least 1"))


# 9. order plans: empty fields, wrong widths, rows beyond the episode -------------------------------------
@pytest.mark.parametrize("rows, needles", [
    (["10,,10"] + ["1,1,1"] * 199, ("line 1", "empty field")),
    (["1,1,1"] * 5 + ["1,1"] + ["1,1,1"] * 194, ("line 6", "2 fields")),
    (["1,1,1"] * 200 + ["1,99,1"], ("201 rows", "200 periods")),
    (["1,1,1"] * 150, ("150 rows", "200 periods")),
    (["1,1,1"] * 10 + [""] + ["1,1,1"] * 189, ("line 11",)),
    (["1, 1,+1"] + ["1,1,1"] * 199, ("line 1", "'+1'")),
])
def test_9_order_plans_are_parsed_strictly(cli, tmp_path, rows, needles):
    cli(replay, "--config", SERIAL, "--orders", str(plan_file(tmp_path, rows)), needles=("plan.csv",) + needles)


# 10. demand lines that int() would accept -----------------------------------------------------------------
@pytest.mark.parametrize("line", ["1_0", "+5", "5e0", "0x10", "٣", "5.5", "nan"])
def test_10_demand_lines_are_digits_only(cli, tmp_path, line):
    folder = demand_dir(tmp_path, ["5"] * 3 + [line] + ["5"] * 196)
    cli(replay, "--config", SERIAL, "--orders", str(plan_file(tmp_path, ["1,1,1"] * 200)), "--demand_dir", str(folder),
        needles=("d1.txt", "line 4"))


# 11. a YAML key given twice ---------------------------------------------------------------------------------
def test_11_repeated_yaml_keys(cli, tmp_path):
    config = write(tmp_path / "in" / "twice.yaml", "seed: 1\nenv:\n  order_cap: 20\n  episode_length: 50\n  order_cap: 10\n")
    cli(train_main, "--config", str(config), needles=("twice.yaml", "'order_cap' is given twice", "lines 3 and 5"))


# 12, 13. --resume that would invalidate the run ---------------------------------------------------------------
def test_12_resume_refuses_changes_that_invalidate_the_run(cli, tiny_run):
    cli(train_main, "--resume", str(tiny_run), "--set", "env.serial.holding_cost=100",
        needles=("env.serial.holding_cost", "a resumed run keeps its config"), watch=(tiny_run.parent,))
    cli(train_main, "--resume", str(tiny_run), "--set", "train.total_env_steps=8", needles=("longer budget",),
        watch=(tiny_run.parent,))
    cli(train_main, "--resume", str(tiny_run), "--seed", "3", needles=("'seed'",), watch=(tiny_run.parent,))


def test_13_resume_with_a_config_of_another_kind(cli, tiny_run):
    cli(train_main, "--resume", str(tiny_run), "--config", NETWORK, needles=("--config", "env.kind"), watch=(tiny_run.parent,))


# 14. a run name that escapes --out ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../escaped", "/tmp/abs", ".hidden", "a/b"])
def test_14_run_names_stay_inside_out(cli, tmp_path, name):
    cli(train_main, "--config", SERIAL, "--set", f"name={name}", "--out", str(tmp_path / "out"), needles=("'name'",))


# 15, 16. faults: see tests/test_faults.py; here: a second process in a locked run folder -------------------------
def test_16_a_run_folder_in_use_is_refused(cli, tiny_run):
    with folder_lock(tiny_run, "run folder"):
        cli(train_main, "--resume", str(tiny_run), "--set", "train.total_env_steps=32", needles=("in use",),
            watch=(tiny_run.parent,))


# 17. ordering fluctuation of an agent that never orders ------------------------------------------------------------
def test_17_an_agent_without_orders_has_no_nan_in_the_table(monkeypatch, capsys, tmp_path):
    folder = demand_dir(tmp_path, ["5"] * 200)
    monkeypatch.setattr(sys, "argv", ["evaluate_main", "--config", SERIAL, "--eval_dir", str(folder),
                                      "--policy", "constant_order", "--set", "baselines.constant_orders=[0,5,5]"])
    assert evaluate_main.main() == 0
    row = capsys.readouterr().out.strip().splitlines()[-1]
    # one file: no interval; stage 0 never orders, so stage 1 never sees demand: no fill rate
    assert "nan" not in row.lower(), row
    assert "± n/a (1 file)" in row and "| no orders / 0.00 / 0.00 |" in row and "| 0.050 / no demand / 1.000 |" in row, row


# also: messages that used to name the wrong problem ------------------------------------------------------------------
def test_also_validation_episodes_zero_is_named(cli):
    cli(train_main, "--config", SERIAL, "--set", "demand.validation_episodes=0", needles=("demand.validation_episodes",))


def test_also_folders_given_as_files(cli, tmp_path):
    folder = tmp_path / "a_folder"
    folder.mkdir()
    cli(train_main, "--config", str(folder), needles=("is a folder",))
    cli(evaluate_main, "--config", SERIAL, "--model_path", str(folder), needles=("model file", "is a folder"))
    cli(replay, "--config", SERIAL, "--orders", str(folder), needles=("orders file", "is a folder"))


@pytest.mark.parametrize("content", ["truncated", "random"])
def test_also_bad_model_files_get_a_whole_sentence(cli, tmp_path, tiny_run, content):
    good = (tiny_run / "best.pt").read_bytes()
    bad = good[: len(good) // 2] if content == "truncated" else np.random.default_rng(0).bytes(4096)
    write(tmp_path / "bad.pt", bad)
    line = cli(evaluate_main, "--config", SERIAL, "--model_path", str(tmp_path / "bad.pt"), needles=("bad.pt", "truncated"))
    assert line.endswith("pass the right --model_path"), line


# the same contract end to end, as separate processes -------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    # (train_main.py as a process: tests/test_train_main.py::test_command_line_errors_are_one_line)
    ["-m", "envs.replay", "--config", SERIAL, "--orders", SERIAL, "--set", "train.n_envs=1000000000000"],
    ["evaluate_main.py", "--config", SERIAL, "--policy", "constant_order", "--output_json", "/"],
])
def test_subprocess_cases(tmp_path, args):
    before = snapshot(tmp_path, ROOT / "results")
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert snapshot(tmp_path, ROOT / "results") == before
