"""Classic lot sizing: known optima, brute-force agreement, the exact MIP, plan costs, bad input."""
import itertools

import numpy as np
import pytest

from lot_sizing import (
    exact_lot_sizing,
    groff,
    least_unit_cost,
    lot_for_lot,
    part_period_balancing,
    plan_cost,
    silver_meal,
    wagner_whitin,
    zio_lot_sizing,
)
from utils.errors import UserError

WW_DEMAND = [69, 29, 36, 61, 61, 26, 34, 67, 45, 67, 79, 56]
WW_SETUP = [85, 102, 102, 101, 98, 114, 105, 86, 119, 110, 98, 114]
SM_DEMAND = [10, 62, 12, 130, 154, 129, 88, 52, 124, 160, 238, 41]
HEURISTICS = [silver_meal, least_unit_cost, part_period_balancing, groff, lot_for_lot]


def brute_force(demand, setup, holding, capacity=None, backlog=None):
    """Cheapest plan over all 2^T setup vectors, each decoded by its optimal lots.

    Given the setups: without backlog, lots as late as capacity allows (holding is linear in how
    early units are made); with backlog and no capacity, each period's demand from its cheapest
    open setup. Independent of the library's code paths (no dynamic program, no MIP).
    """
    d = np.asarray(demand, float)
    T = d.size
    s, h = np.broadcast_to(setup, T).astype(float), np.broadcast_to(holding, T).astype(float)
    cap = np.full(T, np.inf) if capacity is None else np.broadcast_to(capacity, T).astype(float)
    y = np.array(list(itertools.product([False, True], repeat=T)))  # (2^T, T)
    x = np.zeros(y.shape)
    if backlog is None:
        need = np.zeros(len(y))
        for t in range(T - 1, -1, -1):
            need += d[t]
            x[:, t] = np.minimum(need, np.where(y[:, t], cap[t], 0.0))
            need -= x[:, t]
        feasible = need <= 1e-9
    else:
        b = np.broadcast_to(backlog, T).astype(float)
        hp, bp = np.concatenate([[0], np.cumsum(h)]), np.concatenate([[0], np.cumsum(b)])
        for t in range(T):
            unit = np.array([hp[t] - hp[j] if j <= t else bp[j] - bp[t] for j in range(T)])
            src = np.argmin(np.where(y, unit, np.inf), axis=1)
            x[np.arange(len(y)), src] += d[t]
        feasible = y.any(axis=1) | (d.sum() == 0)
    inv = np.cumsum(x - d, axis=1)
    cost = (x > 0) @ s + np.maximum(inv, 0) @ h
    if backlog is not None:
        cost += np.maximum(-inv, 0) @ np.broadcast_to(backlog, T)
    return float(np.min(np.where(feasible, cost, np.inf)))


def random_instance(rng, T, zero_share=0.2):
    d = rng.integers(0, 100, T).astype(float)
    d[rng.random(T) < zero_share] = 0.0
    return d, rng.uniform(20, 300, T), rng.uniform(0.2, 2.0, T)


# ---------------------------------------------------------------------------------------------
def test_wagner_whitin_1958_instance_costs_864():
    plan = wagner_whitin(WW_DEMAND, WW_SETUP, 1.0)
    assert plan.cost == pytest.approx(864.0, abs=1e-9)
    assert plan.orders.sum() == sum(WW_DEMAND)
    assert plan_cost(WW_DEMAND, plan.orders, WW_SETUP, 1.0) == pytest.approx(864.0, abs=1e-9)


def test_silver_meal_instance_costs_501_2_for_ww_and_silver_meal():
    assert wagner_whitin(SM_DEMAND, 54, 0.4).cost == pytest.approx(501.2, abs=1e-9)
    assert silver_meal(SM_DEMAND, 54, 0.4).cost == pytest.approx(501.2, abs=1e-9)


def test_rules_on_silver_meal_instance_by_hand():
    # Lot-for-lot pays 12 setups and no holding.
    assert lot_for_lot(SM_DEMAND, 54, 0.4).cost == pytest.approx(12 * 54)
    # Every rule's plan meets demand and costs at least the optimum.
    for rule in HEURISTICS:
        plan = rule(SM_DEMAND, 54, 0.4)
        assert plan.orders.sum() == pytest.approx(sum(SM_DEMAND))
        assert plan.cost >= 501.2 - 1e-9


@pytest.mark.parametrize("seed", range(12))
def test_wagner_whitin_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    T = int(rng.integers(1, 13))
    d, s, h = random_instance(rng, T)
    ww = wagner_whitin(d, s, h)
    assert ww.cost == pytest.approx(brute_force(d, s, h), rel=1e-10, abs=1e-9)
    assert plan_cost(d, ww.orders, s, h) == pytest.approx(ww.cost)
    for rule in HEURISTICS:  # heuristics are feasible and never beat the optimum
        assert rule(d, s, h).cost >= ww.cost - 1e-9


def test_scalar_costs_equal_constant_arrays():
    a = wagner_whitin(SM_DEMAND, 54, 0.4)
    b = wagner_whitin(SM_DEMAND, np.full(12, 54.0), np.full(12, 0.4))
    np.testing.assert_array_equal(a.orders, b.orders)
    for rule in HEURISTICS:
        np.testing.assert_array_equal(rule(SM_DEMAND, 54, 0.4).orders, rule(SM_DEMAND, [54] * 12, [0.4] * 12).orders)


def test_initial_inventory_is_used_first():
    d = [10, 20, 30, 40]
    plan = wagner_whitin(d, 100, 1.0, initial_inventory=25)
    # 25 on hand covers period 0 and half of period 1; nothing is ordered before it runs out.
    assert plan.orders[0] == 0
    assert plan.orders.sum() == pytest.approx(75)
    # Holding of the initial stock (15 after period 0) is part of the cost.
    assert plan.cost == pytest.approx(plan_cost(d, plan.orders, 100, 1.0, initial_inventory=25))
    assert plan.cost == pytest.approx(wagner_whitin([0, 5, 30, 40], 100, 1.0).cost + 15)


def test_plan_cost_by_hand():
    assert plan_cost([10, 0, 5], [15, 0, 0], 2, 1) == pytest.approx(2 + 5 + 5)
    # Backlog: short 10 at the end of period 0, 5 left at the end of period 1.
    assert plan_cost([10, 0, 5], [0, 15, 0], 2, 1, backlog_cost=3) == pytest.approx(2 + 30 + 5)
    assert plan_cost([4, 4], [4, 4], [1, 7], [9, 9]) == pytest.approx(8)


# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_exact_without_capacity_equals_wagner_whitin(seed):
    rng = np.random.default_rng(100 + seed)
    d, s, h = random_instance(rng, int(rng.integers(5, 30)))
    assert exact_lot_sizing(d, s, h).cost == pytest.approx(wagner_whitin(d, s, h).cost, rel=1e-7)


@pytest.mark.parametrize("seed", range(6))
def test_exact_capacitated_equals_brute_force(seed):
    rng = np.random.default_rng(200 + seed)
    d, s, h = random_instance(rng, 10, zero_share=0.1)
    cap = float(rng.uniform(1.2, 2.0) * max(d.mean(), 1.0))
    cap = max(cap, float(np.max(np.cumsum(d) / np.arange(1, 11))) + 1.0)  # keep it feasible
    plan = exact_lot_sizing(d, s, h, capacity=cap)
    assert np.all(plan.orders <= cap + 1e-6)
    assert plan.cost == pytest.approx(brute_force(d, s, h, capacity=cap), rel=1e-7)
    assert plan.cost >= wagner_whitin(d, s, h).cost - 1e-6


@pytest.mark.parametrize("seed", range(4))
def test_exact_backlogging_equals_brute_force(seed):
    rng = np.random.default_rng(300 + seed)
    d, s, h = random_instance(rng, 10)
    b = rng.uniform(0.5, 3.0, 10)
    plan = exact_lot_sizing(d, s, h, backlog_cost=b)
    assert plan.cost == pytest.approx(brute_force(d, s, h, backlog=b), rel=1e-7)
    assert plan.cost <= wagner_whitin(d, s, h).cost + 1e-6


def test_backlogging_lets_a_capacity_short_first_period_be_served_late():
    # Period 0 needs 30 but only 20 can be made per period: infeasible without backlog.
    with pytest.raises(UserError):
        exact_lot_sizing([30, 0, 0], 0, 1, capacity=20)
    plan = exact_lot_sizing([30, 0, 0], 0, 1, capacity=20, backlog_cost=5)
    np.testing.assert_allclose(plan.orders, [20, 10, 0], atol=1e-7)
    assert plan.cost == pytest.approx(50)


def test_zio_is_ww_without_capacity_and_feasible_with_it():
    rng = np.random.default_rng(7)
    d, s, h = random_instance(rng, 20)
    assert zio_lot_sizing(d, s, h).cost == pytest.approx(wagner_whitin(d, s, h).cost)
    cap = d.max()
    plan = zio_lot_sizing(d, s, h, capacity=cap)
    assert np.all(plan.orders <= cap + 1e-9)
    assert plan.cost >= exact_lot_sizing(d, s, h, capacity=cap).cost - 1e-6


# ---------------------------------------------------------------------------------------------
def one_line_user_error(call):
    with pytest.raises(UserError) as err:
        call()
    assert "\n" not in str(err.value) and str(err.value)
    return str(err.value)


def test_bad_input_raises_one_line_user_error():
    assert "negative" in one_line_user_error(lambda: wagner_whitin([5, -1, 3], 10, 1))
    assert "periods" in one_line_user_error(lambda: wagner_whitin([5, 1, 3], [10, 10], 1))
    assert "periods" in one_line_user_error(lambda: silver_meal([5, 1, 3], 10, [1, 1, 1, 1]))
    assert "capacity" in one_line_user_error(lambda: exact_lot_sizing([50, 50], 10, 1, capacity=40))
    assert "infeasible" in one_line_user_error(lambda: plan_cost([5, 5], [5, 0], 1, 1))
    assert "backlogged" in one_line_user_error(lambda: plan_cost([5, 5], [5, 0], 1, 1, backlog_cost=2))
    assert "shape" in one_line_user_error(lambda: plan_cost([5, 5], [10], 1, 1))
    one_line_user_error(lambda: wagner_whitin([], 1, 1))
    one_line_user_error(lambda: wagner_whitin([1, 2], -1, 1))
    one_line_user_error(lambda: wagner_whitin([1, np.nan], 1, 1))
    one_line_user_error(lambda: groff([1, 2], 1, 1, initial_inventory=-3))
    one_line_user_error(lambda: zio_lot_sizing([5, 50], 1, 1, capacity=10))
