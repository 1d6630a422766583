"""Adaptive GA for lot sizing: known optima, agreement with the exact solvers, seeds, bad input."""
import numpy as np
import pytest

from lot_sizing import GAConfig, exact_lot_sizing, memetic_lot_sizing, plan_cost, wagner_whitin
from lot_sizing.ga_lotsizing import _adaptive_rate
from lot_sizing.setup_search import _Problem
from scipy.optimize import linprog
from utils.errors import UserError

WW_DEMAND = [69, 29, 36, 61, 61, 26, 34, 67, 45, 67, 79, 56]
WW_SETUP = [85, 102, 102, 101, 98, 114, 105, 86, 119, 110, 98, 114]
SM_DEMAND = [10, 62, 12, 130, 154, 129, 88, 52, 124, 160, 238, 41]


def test_ga_finds_the_known_optima():
    assert memetic_lot_sizing(WW_DEMAND, WW_SETUP, 1.0).cost == pytest.approx(864.0)
    assert memetic_lot_sizing(SM_DEMAND, 54, 0.4).cost == pytest.approx(501.2)


def test_ga_without_local_search_still_finds_the_ww_optimum():
    plan = memetic_lot_sizing(WW_DEMAND, WW_SETUP, 1.0, config=GAConfig(local_search=False, patience=100))
    assert plan.cost == pytest.approx(864.0)


def test_ga_may_order_before_the_first_demand_when_setups_are_cheaper_there():
    # Period 0 has no demand but a cheap setup; ordering there and holding beats ordering in 1.
    for capacity in (None, 20.0):
        plan = memetic_lot_sizing([0, 10, 0], [1, 100, 100], 1.0, capacity=capacity)
        np.testing.assert_allclose(plan.orders, [10, 0, 0])
        assert plan.cost == pytest.approx(11.0) == wagner_whitin([0, 10, 0], [1, 100, 100], 1.0).cost


@pytest.mark.parametrize("seed", range(5))
def test_ga_matches_wagner_whitin_uncapacitated(seed):
    rng = np.random.default_rng(seed)
    T = 30
    d, s, h = rng.integers(0, 200, T).astype(float), rng.uniform(50, 500, T), rng.uniform(0.5, 2, T)
    plan = memetic_lot_sizing(d, s, h, rng=np.random.default_rng(seed))
    assert plan.cost == pytest.approx(wagner_whitin(d, s, h).cost, rel=1e-9)
    assert plan.cost == pytest.approx(plan_cost(d, plan.orders, s, h))


@pytest.mark.parametrize("seed", range(4))
def test_ga_capacitated_is_feasible_and_near_the_mip(seed):
    rng = np.random.default_rng(50 + seed)
    T = 16
    d, s, h = rng.integers(0, 200, T).astype(float), rng.uniform(50, 500, T), rng.uniform(0.5, 2, T)
    cap = float(max(1.6 * d.mean(), np.max(np.cumsum(d) / np.arange(1, T + 1)) + 1))
    plan = memetic_lot_sizing(d, s, h, capacity=cap, rng=np.random.default_rng(seed))
    exact = exact_lot_sizing(d, s, h, capacity=cap).cost
    assert np.all(plan.orders <= cap + 1e-9)
    assert plan_cost(d, plan.orders, s, h, capacity=cap) == pytest.approx(plan.cost)
    assert exact - 1e-6 <= plan.cost <= exact * 1.02


@pytest.mark.parametrize("capacity", [None, 150.0])
def test_ga_with_backlogging_is_feasible_and_bounded_by_the_mip(capacity):
    rng = np.random.default_rng(9)
    T = 14
    d, s, h = rng.integers(0, 150, T).astype(float), rng.uniform(50, 500, T), rng.uniform(0.5, 2, T)
    b = rng.uniform(1, 4, T)
    plan = memetic_lot_sizing(d, s, h, capacity=capacity, backlog_cost=b)
    exact = exact_lot_sizing(d, s, h, capacity=capacity, backlog_cost=b).cost
    assert plan_cost(d, plan.orders, s, h, b, capacity=capacity) == pytest.approx(plan.cost)
    assert plan.orders.sum() == pytest.approx(d.sum())
    assert plan.cost == pytest.approx(exact, rel=1e-7)


def fixed_setup_lp(d, h, b, cap, y):
    """Optimal cost of stock and backlog for fixed setups y, by scipy's LP (independent of the GA).

    Variables x (T), stock I (T), backlog B (T): x_t + I_{t-1} - B_{t-1} - I_t + B_t = d_t.
    """
    T = d.size
    a = np.zeros((T, 3 * T))
    for t in range(T):
        a[t, t], a[t, T + t], a[t, 2 * T + t] = 1, -1, 1
        if t > 0:
            a[t, T + t - 1], a[t, 2 * T + t - 1] = 1, -1
    ub = np.concatenate([np.where(y, cap, 0.0), np.full(T, np.inf), np.full(T, np.inf if b is not None else 0.0)])
    ub[3 * T - 1] = 0.0
    res = linprog(np.concatenate([np.zeros(T), h, b if b is not None else np.zeros(T)]), A_eq=a, b_eq=d, bounds=list(zip(np.zeros(3 * T), ub)))
    assert res.status == 0
    return res.fun


@pytest.mark.parametrize("backlogging", [True, False])
@pytest.mark.parametrize("seed", range(3))
def test_decode_is_the_optimal_flow_for_its_setups(seed, backlogging):
    rng = np.random.default_rng(70 + seed)
    T, P = 12, 30
    d, h, b = rng.integers(0, 100, T).astype(float), rng.uniform(0.5, 2, T), rng.uniform(1, 4, T)
    b = b if backlogging else None
    cap = np.full(T, max(1.5 * d.mean(), np.max(np.cumsum(d) / np.arange(1, T + 1)) + 1.0))
    problem = _Problem(d, np.zeros(T), h, b, cap)
    y = rng.random((P, T)) < 0.5
    problem.repair(y)
    x = problem.orders(y)
    assert np.allclose(x.sum(axis=1), d.sum()) and np.all(x <= np.where(y, cap, 0.0) + 1e-9)
    for p in range(P):
        assert problem.cost(x[p : p + 1])[0] == pytest.approx(fixed_setup_lp(d, h, b, cap, y[p]), rel=1e-8, abs=1e-8)


def test_same_seed_same_plan_bit_for_bit_and_history_never_rises():
    rng = np.random.default_rng(3)
    d = rng.integers(0, 100, 25).astype(float)
    a = memetic_lot_sizing(d, 120, 1.0, capacity=90, rng=np.random.default_rng(11))
    b = memetic_lot_sizing(d, 120, 1.0, capacity=90, rng=np.random.default_rng(11))
    np.testing.assert_array_equal(a.orders, b.orders)
    np.testing.assert_array_equal(a.best_cost_history, b.best_cost_history)
    assert a.cost == b.cost
    assert np.all(np.diff(a.best_cost_history) <= 0)
    # The config seed is used when no generator is passed.
    c = memetic_lot_sizing(d, 120, 1.0, capacity=90, config=GAConfig(seed=11))
    np.testing.assert_array_equal(a.orders, c.orders)


def test_early_stop_on_stagnation():
    plan = memetic_lot_sizing(WW_DEMAND, WW_SETUP, 1.0, config=GAConfig(patience=5, max_generations=500))
    assert plan.generations < 500
    assert plan.best_cost_history.size == plan.generations + 1


def test_srinivas_patnaik_rates():
    cost = np.array([10.0, 15.0, 20.0, 40.0])  # c_min 10, c_avg 21.25
    rates = _adaptive_rate(cost, 10.0, 21.25, 0.5, 0.9)
    np.testing.assert_allclose(rates, [0.0, 0.5 * 5 / 11.25, 0.5 * 10 / 11.25, 0.9])
    np.testing.assert_allclose(_adaptive_rate(np.array([3.0, 3.0]), 3.0, 3.0, 0.5, 0.9), [0.9, 0.9])


def test_bad_input_raises_user_error():
    with pytest.raises(UserError, match="capacity"):
        memetic_lot_sizing([50, 50], 10, 1, capacity=40)
    with pytest.raises(UserError, match="negative"):
        memetic_lot_sizing([5, -5], 10, 1)
    with pytest.raises(UserError, match="periods"):
        memetic_lot_sizing([5, 5, 5], [10, 10], 1)
    with pytest.raises(UserError):
        memetic_lot_sizing([5, 5], 10, 1, config=GAConfig(population_size=1))
    with pytest.raises(UserError):
        memetic_lot_sizing([5, 5], 10, 1, config=GAConfig(k1=1.5))
