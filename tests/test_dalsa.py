"""DALSA: bounds against naive single-supplier plans and the exact MIP, lead times, bad input."""
import numpy as np
import pytest

from lot_sizing import (
    Supplier,
    dalsa,
    exact_lot_sizing,
    exact_multi_supplier,
    multi_supplier_cost,
    single_supplier_plan,
    wagner_whitin,
)
from utils.errors import UserError


def random_instance(rng, T=10):
    K = int(rng.integers(2, 4))
    r = rng.integers(0, 100, T).astype(float)
    suppliers = [
        Supplier(
            lead_time=int(rng.integers(0, 3)),
            unit_price=float(rng.uniform(1, 3)),
            order_cost=float(rng.uniform(20, 200)),
            capacity=float(rng.choice([np.inf, rng.uniform(1.5, 3) * r.mean()])),
        )
        for _ in range(K)
    ]
    # Stock for the periods no lead time can reach, so every instance is feasible.
    return r, suppliers, float(rng.uniform(0.2, 1.0)), float(r[:2].sum())


@pytest.mark.parametrize("seed", range(10))
def test_dalsa_between_exact_mip_and_naive_single_supplier_plans(seed):
    rng = np.random.default_rng(seed)
    r, sups, h, init = random_instance(rng)
    plan = dalsa(r, sups, h, init)
    exact = exact_multi_supplier(r, sups, h, init)
    assert plan.cost >= exact.cost - 1e-6
    for k in range(len(sups)):
        try:
            naive = single_supplier_plan(r, sups, k, h, init)
        except UserError:  # this supplier alone cannot deliver in time
            continue
        assert plan.cost <= naive.cost + 1e-9
    # Both plans are priced and checked by the same independent cost function.
    assert multi_supplier_cost(r, plan.orders, sups, h, init) == pytest.approx(plan.cost)
    assert multi_supplier_cost(r, exact.orders, sups, h, init) == pytest.approx(exact.cost)


@pytest.mark.parametrize("seed", range(4))
def test_exact_phase2_variant_keeps_both_bounds(seed):
    rng = np.random.default_rng(42 + seed)
    r, sups, h, init = random_instance(rng)
    plan = dalsa(r, sups, h, init, phase2="exact")
    assert plan.cost >= exact_multi_supplier(r, sups, h, init).cost - 1e-6
    for k in range(len(sups)):
        try:
            naive = single_supplier_plan(r, sups, k, h, init, phase2="exact")
        except UserError:
            continue
        assert plan.cost <= naive.cost + 1e-9


def test_one_uncapacitated_supplier_reduces_to_wagner_whitin():
    r = np.array([69, 29, 36, 61, 61, 26, 34, 67, 45, 67, 79, 56], float)
    sup = [Supplier(lead_time=0, unit_price=2.0, order_cost=100.0)]
    ww = wagner_whitin(r, 100.0, 1.0)
    for plan in (dalsa(r, sup, 1.0), exact_multi_supplier(r, sup, 1.0)):
        assert plan.cost == pytest.approx(ww.cost + 2.0 * r.sum())


def test_one_capacitated_supplier_mip_matches_exact_lot_sizing():
    rng = np.random.default_rng(5)
    r = rng.integers(0, 100, 12).astype(float)
    cap = float(max(1.5 * r.mean(), r.max()))
    sup = [Supplier(lead_time=0, unit_price=1.5, order_cost=120.0, capacity=cap)]
    single = exact_lot_sizing(r, 120.0, 0.5, capacity=cap).cost + 1.5 * r.sum()
    assert exact_multi_supplier(r, sup, 0.5).cost == pytest.approx(single, rel=1e-7)
    assert dalsa(r, sup, 0.5, phase2="exact").cost == pytest.approx(single, rel=1e-7)


def test_lead_times_shift_orders_and_early_periods_use_the_fast_supplier():
    r = np.array([0, 10, 10, 10, 10, 10], float)
    cheap_slow = Supplier(lead_time=3, unit_price=1.0, order_cost=5.0)
    dear_fast = Supplier(lead_time=1, unit_price=3.0, order_cost=5.0)
    plan = dalsa(r, [cheap_slow, dear_fast], 0.1)
    # Periods 1-2 can only come from the fast supplier; from period 3 on the slow one is cheaper.
    assert plan.arrivals[1, 1:3].sum() == pytest.approx(20)
    assert plan.arrivals[0, 3:].sum() == pytest.approx(30)
    # Orders are placed lead time earlier; none would arrive after the horizon.
    np.testing.assert_array_equal(plan.orders[0, :3], plan.arrivals[0, 3:])
    assert np.all(plan.orders[0, 3:] == 0) and np.all(plan.orders[1, 5:] == 0)
    assert plan.cost == pytest.approx(exact_multi_supplier(r, [cheap_slow, dear_fast], 0.1).cost)


def test_cost_by_hand():
    r = [5, 5]
    sups = [Supplier(lead_time=1, unit_price=2.0, order_cost=3.0)]
    # Ordering 5 in period 0 arrives in period 1; 5 on hand at the start cover period 0.
    assert multi_supplier_cost(r, [[5, 0]], sups, 1.0, initial_inventory=5) == pytest.approx(3 + 10)
    with pytest.raises(UserError, match="after the horizon"):
        multi_supplier_cost(r, [[0, 5]], sups, 1.0, initial_inventory=5)
    with pytest.raises(UserError, match="not met"):
        multi_supplier_cost(r, [[0, 0]], sups, 1.0, initial_inventory=5)


def test_bad_input_raises_one_line_user_error():
    sups = [Supplier(lead_time=2, unit_price=1.0, order_cost=10.0)]
    cases = [
        lambda: dalsa([5, 5, 5], sups, 1.0),  # period 0 cannot be reached in time
        lambda: dalsa([5, -1, 5], sups, 1.0, initial_inventory=20),
        lambda: dalsa([5, 5, 5], sups, [1.0, 1.0], initial_inventory=20),
        lambda: dalsa([5, 5, 5], [], 1.0),
        lambda: dalsa([5, 5, 5], [Supplier(lead_time=-1, unit_price=1.0, order_cost=1.0)], 1.0),
        lambda: dalsa([5, 5, 5], [Supplier(lead_time=0, unit_price=1.0, order_cost=1.0, capacity=2)], 1.0),
        lambda: dalsa([5, 5, 5], sups, 1.0, initial_inventory=20, phase2="milp"),
        lambda: exact_multi_supplier([5, 5, 5], sups, 1.0),
        lambda: single_supplier_plan([5, 5, 5], sups, 3, 1.0, initial_inventory=20),
        lambda: multi_supplier_cost([5, 5, 5], [[1, 2]], sups, 1.0),
    ]
    for call in cases:
        with pytest.raises(UserError) as err:
            call()
        assert str(err.value) and "\n" not in str(err.value)


def test_single_supplier_plan_builds_stock_ahead_when_capacity_is_tight():
    # Supplier A (cheap, 10 per order) cannot land period 1's 15 units in period 1 alone, but can by
    # building stock in period 0: 10 + 10 arrivals, holding 10 then 5 (0.1 each), 2 orders, 20 units.
    cheap = Supplier(lead_time=0, unit_price=1.0, order_cost=10.0, capacity=10.0)
    dear = Supplier(lead_time=0, unit_price=5.0, order_cost=10.0)
    r = [0, 15, 5]
    optimum = 2 * 10 + 20 * 1.0 + 0.1 * (10 + 5)
    assert exact_multi_supplier(r, [cheap, dear], 0.1).cost == pytest.approx(optimum)
    assert single_supplier_plan(r, [cheap, dear], 0, 0.1).cost == pytest.approx(optimum)
    plan = dalsa(r, [cheap, dear], 0.1)
    assert plan.cost == pytest.approx(optimum)
    np.testing.assert_allclose(plan.orders, [[10, 10, 0], [0, 0, 0]])
    with pytest.raises(UserError, match="ahead"):
        single_supplier_plan(r, [cheap, dear], 0, 0.1, phase2="zio")


def tight_instance(rng, T=12):
    """Every supplier capacitated at 0.6..1.4 times the mean requirement (redrawn until feasible)."""
    while True:
        K = int(rng.integers(2, 4))
        r = rng.integers(0, 101, T).astype(float)
        sups = [Supplier(lead_time=int(rng.integers(0, 3)), unit_price=float(rng.uniform(1, 3)),
                         order_cost=float(rng.uniform(20, 200)), capacity=float(rng.uniform(0.6, 1.4) * r.mean()))
                for _ in range(K)]
        init = float(r[:2].sum())
        try:
            exact_multi_supplier(r, sups, 0.5, init)  # raises UserError when no plan is feasible
            return r, sups, init
        except UserError:
            continue


def test_dalsa_within_two_percent_of_the_mip_under_tight_capacity():
    rng = np.random.default_rng(2026)
    gaps = []
    for _ in range(8):
        r, sups, init = tight_instance(rng)
        exact = exact_multi_supplier(r, sups, 0.5, init)
        gaps.append(dalsa(r, sups, 0.5, init).cost / exact.cost - 1.0)
    assert min(gaps) >= -1e-9
    assert np.mean(gaps) <= 0.02
