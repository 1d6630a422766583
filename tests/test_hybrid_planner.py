"""Hybrid planner: batched solvers equal the classic ones, pass-through without a fixed cost, the rolling
horizon's invariants, every back end by name, a known optimum in the env, the env wrapper's API, bad input,
and the train / evaluate hooks."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import evaluate_main
from agents.happo_agent import HAPPOTrainer, save_checkpoint
from agents.planner_wrapper import OrderPlanner, PlannerEnv, with_planner
from envs import SerialEnv, make_env
from lot_sizing import GAConfig, Supplier, dalsa, exact_lot_sizing, lot_for_lot, silver_meal, wagner_whitin
from lot_sizing.hybrid_planner import (
    RETIME_BACKENDS,
    net_requirement_orders,
    net_requirement_problem,
    arrival_requirements,
    first_lots,
    first_supplier_orders,
    rolling_requirements,
)
from utils.config import EnvConfig, PlannerConfig, SerialConfig, config_from_dict, load_config
from utils.data_loader import write_demand_folder
from utils.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
FIXED = str(ROOT / "configs/train_serial_fixed_cost.yaml")
#: the 12-period instance of the lot-sizing issue: optimum 501.2, first lot 10 + 62 + 12 = 84
DEMAND_12 = np.array([10, 62, 12, 130, 154, 129, 88, 52, 124, 160, 238, 41], dtype=float)


def serial_env(fixed_cost: float, n_envs: int = 4, **serial) -> SerialEnv:
    return SerialEnv(EnvConfig(episode_length=30, serial=SerialConfig(fixed_order_cost=fixed_cost, **serial)), n_envs=n_envs)


def planner(env, backend: str = "wagner_whitin", **kw) -> OrderPlanner:
    """The retime mode with `backend` (pass mode="net_requirements" and backend exact or ga for the other)."""
    kw.setdefault("mode", "retime")
    return OrderPlanner(PlannerConfig(enabled=True, backend=backend, **kw), env)


# ----------------------------------------------------------------------------------------------
# The pure solvers
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend,classic", [("wagner_whitin", wagner_whitin), ("silver_meal", silver_meal)])
def test_batched_first_lots_equal_the_classic_solvers_row_by_row(backend, classic):
    rng = np.random.default_rng(3)
    for H in (1, 2, 5, 9, 12):
        req = rng.integers(0, 15, (40, H)) * (rng.random((40, H)) < 0.8)  # zero periods included
        setup = rng.choice([0.0, 5.0, 25.0, 100.0], 40)
        holding = rng.choice([0.5, 1.0, 2.0], 40)
        stock = rng.integers(0, 20, 40) * (rng.random(40) < 0.5)
        got = first_lots(req, setup, holding, backend, initial_inventory=stock)
        expected = [classic(req[r], setup[r], holding[r], stock[r]).orders[0] for r in range(40)]
        np.testing.assert_array_equal(got, expected)  # zero setup included: lot-for-lot is what they give too


def test_every_back_end_by_name_finds_the_known_first_lot():
    for backend in RETIME_BACKENDS:
        assert first_lots(DEMAND_12[None], 54.0, 0.4, backend).tolist() == [84.0], backend
    assert wagner_whitin(DEMAND_12, 54.0, 0.4).cost == pytest.approx(501.2)


def test_ga_back_end_plans_within_the_capacity():
    # capacity 160: the exact capacitated optimum (646) still starts with the lot 84; the GA finds it
    assert exact_lot_sizing(DEMAND_12, 54.0, 0.4, capacity=160).orders[0] == 84.0
    assert first_lots(DEMAND_12[None], 54.0, 0.4, "ga", capacity=160).tolist() == [84.0]
    # 8 periods of 15 with setup 100: uncapacitated the first lot covers 4 periods (60); capped at 20 it is 15 or 20
    req = np.full((1, 8), 15.0)
    assert first_lots(req, 100.0, 1.0, "wagner_whitin").tolist() == [60.0]
    assert first_lots(req, 100.0, 1.0, "ga", capacity=20).item() in (15.0, 20.0)
    assert first_lots(req, 100.0, 1.0, "wagner_whitin", capacity=20).tolist() == [20.0]


def test_dalsa_splits_between_suppliers_as_dalsa_does():
    # slow cheap supplier (lead 2) and fast dear one (lead 1): only the fast one can land period 1's need
    req = np.array([[0, 3, 4, 4, 4, 4, 4, 4.0]])
    lead, price = np.array([[2, 1]]), np.array([[0.1, 0.3]])
    got = first_supplier_orders(req, lead, price, 20.0, 1.0, capacity=6)
    plan = dalsa(req[0], [Supplier(2, 0.1, 20.0, 6), Supplier(1, 0.3, 20.0, 6)], 1.0, phase2="zio")
    np.testing.assert_array_equal(got[0], plan.orders[:, 0])
    assert got[0, 1] == 3.0 and got[0, 0] > 0


def test_requirement_builders():
    req = rolling_requirements(np.array([4, 0]), np.array([2, 3]), 4, deficit=np.array([1, -5]))
    assert req.tolist() == [[5, 2, 2, 2], [0, 3, 3, 3]]  # a surplus (negative deficit) is not a requirement
    arr = arrival_requirements(np.array([[1, 2]]), np.array([[3, 5]]), np.array([[4, 2]]), 7)
    # fast (lead 2) proposal 2 lands in period 2, then 5 per period; the slow one lands 1 in period 4, then 3
    assert arr.tolist() == [[0, 0, 2, 5, 6, 8, 8]]


# ----------------------------------------------------------------------------------------------
# Pass-through, invariants and a known optimum through the env
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", RETIME_BACKENDS)
def test_no_fixed_cost_passes_the_orders_through_unchanged(backend):
    rng = np.random.default_rng(0)
    raw, wrapped = serial_env(0.0), PlannerEnv(serial_env(0.0), planner(serial_env(0.0), backend))
    assert wrapped.planner.fixed_order_cost == 0.0
    obs_raw, _ = raw.reset(seed=1, demand=rng.integers(0, 20, (4, 30)))
    obs_wrapped, _ = wrapped.reset(seed=1, demand=raw.demand)
    for _ in range(30):
        actions = rng.integers(0, 21, (4, 3))
        out_raw, out_wrapped = raw.step(actions), wrapped.step(actions)
        np.testing.assert_array_equal(out_wrapped[4]["orders"][:, :, 0], actions)
        for a, b in zip(out_raw[:4], out_wrapped[:4]):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(out_raw[4]["cost"], out_wrapped[4]["cost"])


@pytest.mark.parametrize("backend", ["dalsa", "wagner_whitin"])
def test_no_fixed_cost_passes_network_orders_through(backend):
    env = make_env(load_config(ROOT / "configs/train_network.yaml").env, n_envs=2)
    p = planner(env, backend, netting="state")  # fixed_order_cost -1 on a network = no fixed cost
    proposals = np.random.default_rng(1).integers(0, 5, (5, 2, 6, 2))
    for a in proposals:
        np.testing.assert_array_equal(p.orders(a), a)


@pytest.mark.parametrize("backend", RETIME_BACKENDS)
def test_history_netting_keeps_cumulative_orders_within_the_horizon_of_the_proposals(backend):
    env = serial_env(25.0, n_envs=3)
    H, cap = 6, env.order_cap
    p = planner(env, backend, horizon=H, forecast="current", ga_max_generations=20)  # history netting: the default
    rng = np.random.default_rng(5)
    proposed, placed = np.zeros((3, 3)), np.zeros((3, 3))
    for t in range(25 if backend != "ga" else 8):
        a = rng.integers(0, 21, (3, 3))
        x = p.orders(a)[:, :, 0]
        assert (x >= 0).all() and (x <= cap).all()
        proposed += a
        placed += x
        gap = placed - proposed  # units ordered ahead of the proposals
        assert (gap >= 0).all() and (gap <= (H - 1) * cap).all()
        np.testing.assert_array_equal(gap, p.surplus[:, :, 0])


@pytest.mark.parametrize("backend", ["wagner_whitin", "silver_meal"])
def test_state_netting_orders_at_least_the_proposal_and_at_most_the_horizon_of_forecasts(backend):
    env = serial_env(25.0)
    H = 8
    p = planner(env, backend, horizon=H, smoothing=0.5, netting="state")
    rng = np.random.default_rng(2)
    mean = None
    for _ in range(40):
        a = rng.integers(0, 21, (4, 3)) * (rng.random((4, 3)) < 0.6)
        mean = a.astype(float) if mean is None else 0.5 * a + 0.5 * mean
        x = p.orders(a)[:, :, 0]
        upper = np.minimum(env.order_cap, a + (H - 1) * np.rint(mean))
        assert (x >= a).all() and (x <= upper).all()
        assert ((x == 0) == (a == 0)).all()  # a lot starts exactly when the policy asks for stock


def test_history_netting_tracks_a_policy_that_does_not_react_while_state_netting_overorders():
    """A stage that keeps proposing 1 unit (as an untuned policy may): history orders a lot of 8 once per
    8 periods; state, which trusts the proposals to net its lots, orders 8 every period."""
    env = serial_env(100.0, n_envs=1)
    totals = {}
    for netting in ("history", "state"):
        p = planner(env, netting=netting, horizon=8)
        placed = [p.orders(np.ones((1, 3), dtype=int))[0, 0, 0] for _ in range(16)]
        totals[netting] = placed
    assert totals["history"] == [8, 0, 0, 0, 0, 0, 0, 0] * 2
    assert totals["state"] == [8] * 16


def test_planner_reaches_the_wagner_whitin_optimum_of_a_known_stream_in_the_env():
    """One stage, lead time 1, demand 10 every period, fixed cost 25, h = 1: ordering every period costs
    25 per period (300 over 12); the optimum orders 20 every other period (210 = Wagner-Whitin)."""
    demand = np.full((1, 12), 10)
    config = EnvConfig(episode_length=12, serial=SerialConfig(n_stages=1, lead_time=[1], initial_on_hand=0,
                                                              initial_pipeline=10, fixed_order_cost=25.0))
    costs = {}
    for name, wrap in [("pass_through", False), ("planner", True)]:
        env = SerialEnv(config)
        if wrap:
            env = PlannerEnv(env, planner(env, netting="history", forecast="current"))
        env.reset(demand=demand)
        total, orders = 0.0, []
        for _ in range(12):
            _, _, _, _, info = env.step(np.array([[10]]))
            total += info["cost"].sum()
            orders.append(int(info.get("orders", np.array([[[10]]]))[0, 0, 0]))
        costs[name] = (total, orders)
    assert costs["pass_through"][0] == lot_for_lot(demand[0], 25.0, 1.0).cost == 300.0
    assert costs["planner"][1] == [20, 0] * 6
    assert costs["planner"][0] == wagner_whitin(demand[0], 25.0, 1.0).cost == 210.0


def test_ga_planner_is_reproducible():
    env = serial_env(25.0, n_envs=2)
    a = np.random.default_rng(0).integers(0, 21, (6, 2, 3))
    runs = []
    for _ in range(2):
        p = planner(env, "ga", ga_max_generations=15)
        runs.append([p.orders(x) for x in a])
    np.testing.assert_array_equal(np.array(runs[0]), np.array(runs[1]))


# ----------------------------------------------------------------------------------------------
# The net-requirements mode
# ----------------------------------------------------------------------------------------------
def test_net_requirement_problem_by_hand():
    # IP 30, proposal 5 -> target 35; forecast 8, lead 4 -> safety 35 - 5 * 8 = -5; start 30 - 32 + 5 = 3
    demand, start, safety = net_requirement_problem([30.0], [5.0], [7.6], [4], horizon=3)
    np.testing.assert_array_equal(demand, [[8, 8, 8]])
    assert safety.tolist() == [-5.0] and start.tolist() == [3.0]  # = forecast - proposal: IP and L cancel


def test_net_requirements_pass_the_policy_through_without_a_fixed_cost():
    rng = np.random.default_rng(11)
    R = 50
    proposal = rng.integers(0, 21, R).astype(float)
    args = (rng.integers(-30, 80, R), proposal, rng.uniform(0, 20, R), rng.integers(1, 5, R))
    np.testing.assert_array_equal(net_requirement_orders(*args, 0.0, 1.0, 1.0, 20, 8), proposal)
    assert not np.array_equal(net_requirement_orders(*args, 100.0, 1.0, 1.0, 20, 8), proposal)


def test_net_requirements_postpone_when_backlog_is_cheap_and_order_a_lot_when_dear():
    # Forecast 5 a period, proposal 5 (start 0), setup 100, h 1, cap 20, 4 periods. One lot of 20 now
    # holds 15 + 10 + 5 (130); the same lot next period backlogs 5 for one period (b * 5) and holds
    # 10 + 5: 120 at b = 1, 135 at b = 4.
    args = ([40.0], [5.0], [5.0], [4])
    assert net_requirement_orders(*args, 100.0, 1.0, 1.0, 20, 4).tolist() == [0.0]
    assert net_requirement_orders(*args, 100.0, 1.0, 4.0, 20, 4).tolist() == [20.0]
    ga = net_requirement_orders(*args, 100.0, 1.0, 4.0, 20, 4, backend="ga", ga_config=GAConfig(max_generations=20))
    assert ga.tolist() == [20.0]


def test_net_requirement_rows_have_the_same_answer_alone_in_a_batch_and_from_the_cache():
    # The cache is sound only if a row's first order does not depend on the other rows of its batch
    # (they share one grid of levels): rows solved one by one, in a batch with far-off rows, and
    # through a cache filled by earlier calls must agree, across forecasts, positions and costs.
    rng = np.random.default_rng(5)
    R = 120
    args = (rng.integers(-60, 120, R).astype(float), rng.integers(0, 21, R).astype(float),
            rng.integers(0, 25, R).astype(float), rng.integers(0, 5, R).astype(float))
    costs = (rng.choice([5.0, 25.0, 100.0], R), rng.choice([0.5, 1.0, 2.0], R), rng.choice([1.0, 4.0], R))
    alone = np.array([net_requirement_orders(*(a[r:r + 1] for a in args), *(c[r:r + 1] for c in costs), 20, 8)[0]
                      for r in range(R)])
    np.testing.assert_array_equal(net_requirement_orders(*args, *costs, 20, 8), alone)
    cache: dict = {}
    half = slice(0, R // 2)
    net_requirement_orders(*(a[half] for a in args), *(c[half] for c in costs), 20, 8, cache=cache)
    assert len(cache) == R // 2
    np.testing.assert_array_equal(net_requirement_orders(*args, *costs, 20, 8, cache=cache), alone)
    stored = len(cache)
    assert R // 2 < stored <= R
    np.testing.assert_array_equal(net_requirement_orders(*args, *costs, 20, 8, cache=cache), alone)
    assert len(cache) == stored  # the second pass only looks up


def test_net_requirements_planner_in_the_env():
    env = serial_env(25.0, n_envs=3)
    p = OrderPlanner(PlannerConfig(enabled=True), env)
    assert p.mode == "net_requirements" and p.backend == "exact"
    env.reset(demand=np.random.default_rng(0).poisson(8, (3, 30)))
    placed = []
    for _ in range(30):
        proposal = np.full((3, 3), 9)
        orders = p.orders(proposal)
        assert orders.shape == (3, 3, 1) and orders.min() >= 0 and orders.max() <= 20
        placed.append(orders)
        env.step(orders)
    placed = np.array(placed)[..., 0]  # (30, 3, 3)
    assert (placed == 0).mean() > 0.3 and placed.max() > 9  # lots: fewer orders, larger ones
    free = serial_env(0.0, n_envs=3)
    p0 = OrderPlanner(PlannerConfig(enabled=True), free)
    free.reset(demand=np.full((3, 30), 8))
    assert np.array_equal(p0.orders(np.full((3, 3), 9))[..., 0], np.full((3, 3), 9))


def test_net_requirements_refuses_networks_and_retime_back_ends():
    network = make_env(load_config(ROOT / "configs/train_network.yaml").env, n_envs=1)
    with pytest.raises(UserError, match="planner.mode=retime"):
        OrderPlanner(PlannerConfig(enabled=True, fixed_order_cost=5.0), network)
    with pytest.raises(UserError, match="planner.mode=retime"):
        OrderPlanner(PlannerConfig(enabled=True, backend="wagner_whitin"), serial_env(5.0))
    with pytest.raises(UserError, match="net_requirements"):
        OrderPlanner(PlannerConfig(enabled=True, mode="retime", backend="exact"), serial_env(5.0))


# ----------------------------------------------------------------------------------------------
# The wrapper keeps the env API
# ----------------------------------------------------------------------------------------------
def test_wrapper_keeps_the_env_api():
    base = serial_env(25.0)
    env = with_planner(base, PlannerConfig(enabled=True))
    assert isinstance(env, PlannerEnv) and with_planner(base, PlannerConfig()) is base
    for name in ("n_envs", "n_agents", "agent_names", "obs_dim", "state_dim", "action_nvec", "episode_length", "n_streams"):
        assert getattr(env, name) is getattr(base, name) or getattr(env, name) == getattr(base, name)
    obs, info = env.reset(demand=np.full((4, 30), 7))
    assert obs.shape == (4, 3, base.obs_dim) and env.state().shape == (4, base.state_dim)
    for t in range(30):
        obs, rewards, terminated, truncated, info = env.step(np.full((4, 3), 5))
        assert rewards.shape == (4, 3) and info["cost"].shape == (4, 3) and info["proposed"].shape == (4, 3, 1)
        assert truncated.all() == (t == 29) and not terminated.any()
    with pytest.raises(UserError, match="outside the action space"):
        env.reset(demand=np.full((4, 30), 7))
        env.step(np.full((4, 3), 21))


# ----------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call,needle",
    [
        (lambda: first_lots([[1.0, -2.0]], 5.0, 1.0), "negative"),
        (lambda: first_lots([1.0, 2.0], 5.0, 1.0), "2-D"),
        (lambda: first_lots(np.ones((3, 4)), [5.0, 5.0], 1.0), "setup_cost has 2 values but there are 3 rows"),
        (lambda: first_lots(np.ones((1, 4)), 5.0, 1.0, "lot_for_lot"), "unknown planner back end"),
        (lambda: first_lots(np.ones((1, 4)), 5.0, 1.0, capacity=0.0), "capacity must be > 0"),
        (lambda: first_lots(np.full((1, 4), 30.0), 5.0, 1.0, "ga", capacity=20.0), "capacity cannot meet demand"),
        (lambda: rolling_requirements([1.0], [1.0, 2.0], 3), "forecast has 2 rows"),
        (lambda: arrival_requirements([[1, 1]], [[1, 1]], [[4, 2]], 4), "must exceed the longest lead time"),
        (lambda: first_supplier_orders(np.ones((1, 6)), [[2]], [[0.1, 0.2]], 5.0, 1.0), "lead_times and unit_prices"),
    ],
)
def test_bad_input_is_a_one_line_user_error(call, needle):
    with pytest.raises(UserError, match=needle):
        call()


def test_bad_planner_settings_are_rejected():
    network = make_env(load_config(ROOT / "configs/train_network.yaml").env, n_envs=1)
    with pytest.raises(UserError, match="horizon is 4"):
        planner(network, "dalsa", horizon=4, fixed_order_cost=5.0, netting="state")
    with pytest.raises(UserError, match="set planner.netting=state"):
        planner(network, "dalsa", fixed_order_cost=5.0)  # history netting (the default) is for single-supplier rows
    with pytest.raises(UserError, match="planner.smoothing"):
        config_from_dict({"planner": {"smoothing": 0.0}}, "x.yaml")
    with pytest.raises(UserError, match=r"planner\.horizn"):
        config_from_dict({"planner": {"horizn": 5}}, "x.yaml")
    with pytest.raises(UserError, match="planner.backend"):
        config_from_dict({"planner": {"backend": "simplex"}}, "x.yaml")
    with pytest.raises(UserError, match="proposals have shape"):
        planner(serial_env(5.0)).orders(np.zeros((4, 2), dtype=int))


# ----------------------------------------------------------------------------------------------
# Hooks: configs, train_main, evaluate_main
# ----------------------------------------------------------------------------------------------
def test_shipped_planner_files_load():
    config = load_config(FIXED)
    assert config.env.serial.fixed_order_cost == 25.0 and not config.planner.enabled
    settings = evaluate_main.planner_settings(config, None, str(ROOT / "configs/heuristics.yaml"))
    assert settings == PlannerConfig(enabled=True)  # the file states the defaults, switched on
    assert evaluate_main.planner_settings(config, None, None) is None
    assert evaluate_main.planner_settings(config, "ga", None).backend == "ga"


def test_training_runs_with_the_planner_in_the_loop(tmp_path):
    from train_main import train

    config = load_config(FIXED, [f"out_dir={tmp_path}", "train.n_envs=2", "env.episode_length=10", "train.total_env_steps=20",
                                 "train.n_minibatches=2", "demand.validation_episodes=2", "planner.enabled=true"])
    result = train(config, log=lambda _: None)
    assert isinstance(result.trainer.env, PlannerEnv) and result.trainer.env_steps == 20
    assert (tmp_path / "serial_fixed_cost_policy.pt").is_file()  # the preset's own file (name: serial_fixed_cost)


@pytest.fixture(scope="module")
def model_and_demand(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planner_cli")
    config = load_config(FIXED, ["train.n_envs=2", "env.episode_length=20"])
    trainer = HAPPOTrainer(config, make_env(config.env, n_envs=2))  # an untrained policy is enough to test the hook
    save_checkpoint(trainer.checkpoint(), folder / "policy.pt")
    write_demand_folder(folder / "demand", np.random.default_rng(0).poisson(8, (3, 20)))
    return folder


def test_evaluate_planner_flag(monkeypatch, tmp_path, model_and_demand):
    import json

    def run(*extra: str) -> dict:
        out = tmp_path / "eval.json"
        monkeypatch.setattr(sys, "argv", ["evaluate_main.py", "--config", FIXED, "--set", "env.episode_length=20",
                                          "--model_path", str(model_and_demand / "policy.pt"),
                                          "--eval_dir", str(model_and_demand / "demand"), "--output_json", str(out), *extra])
        assert evaluate_main.main() == 0
        return json.loads(out.read_text())["policies"]

    plain = run()["happo"]
    planned = run("--planner", "exact")["happo + exact planner"]
    assert planned["planner"]["backend"] == "exact" and planned["planner"]["mode"] == "net_requirements"
    assert planned["episode_cost"] != plain["episode_cost"]
    retimed = run("--planner", "wagner_whitin", "--set", "planner.mode=retime")["happo + wagner_whitin planner"]
    assert retimed["planner"]["mode"] == "retime" and retimed["episode_cost"] != plain["episode_cost"]
    free = run("--planner", "exact", "--set", "env.serial.fixed_order_cost=0")
    assert free["happo + exact planner"]["episode_cost"] == run("--set", "env.serial.fixed_order_cost=0")["happo"]["episode_cost"]


def test_bad_planner_name_is_one_line_and_exit_code_2(model_and_demand):
    result = subprocess.run(
        [sys.executable, "evaluate_main.py", "--config", FIXED, "--model_path", str(model_and_demand / "policy.pt"),
         "--planner", "simplex"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: unknown planner back end 'simplex'; choose one of exact, wagner_whitin, silver_meal, ga, dalsa"]
