"""The clairvoyant LP bound: hand-solved optima, replay in the env, and bound <= every baseline on every path."""
from __future__ import annotations

import numpy as np
import pytest

from agents.baselines import POLICIES, DemandSummary, make_baseline, rollout
from agents.clairvoyant import clairvoyant_bound, clairvoyant_bounds
from envs import make_env
from utils.config import EnvConfig, SerialConfig
from utils.errors import UserError


def chain(T: int, **serial) -> EnvConfig:
    return EnvConfig(episode_length=T, serial=SerialConfig(**serial))


def test_single_stage_unavoidable_holding():
    # 10 on hand, nothing in the pipeline, demand 2 a period: the stock can only fall, 8 + 6 + 4 on hand
    config = chain(3, n_stages=1, lead_time=[1], initial_on_hand=10, initial_pipeline=0)
    total, per_stage, sol = clairvoyant_bound(config, np.array([2, 2, 2]))
    assert total == pytest.approx(18.0)
    np.testing.assert_allclose(sol["orders"], 0.0, atol=1e-9)


def test_single_stage_unavoidable_backlog_then_recovery():
    # nothing on hand or on the way: demand 3 in period 0 is backlogged (b = 2) and met from an order
    # placed in period 0 that arrives in period 1; cost 3 * 2 = 6 and nothing after
    config = chain(3, n_stages=1, lead_time=[1], initial_on_hand=0, initial_pipeline=0, backlog_cost=[2.0])
    total, per_stage, sol = clairvoyant_bound(config, np.array([3, 0, 0]))
    assert total == pytest.approx(6.0)
    assert sol["orders"][0, 0] == pytest.approx(3.0)


def test_two_stage_optimum_and_its_replay_in_the_env():
    # Demand 5 in period 1 only, L = 1 everywhere, empty chain, backlog costs 3 (retailer) and 1 (stage 1).
    # The retailer cannot get stock before period 2 (stage 1 has none before its own order arrives in
    # period 1), so 5 units are backlogged for one period: 5 * 3 = 15 at best.  Ordering from stage 1 in
    # period 0 would also create a backlog there; the optimum orders at stage 1 in period 0 and at the
    # retailer in period 1.
    config = chain(4, n_stages=2, lead_time=[1], initial_on_hand=0, initial_pipeline=0, backlog_cost=[3.0, 1.0])
    total, per_stage, sol = clairvoyant_bound(config, np.array([0, 5, 0, 0]))
    assert total == pytest.approx(15.0)
    np.testing.assert_allclose(per_stage, [15.0, 0.0], atol=1e-9)
    # the env, given that plan, costs exactly the bound
    env = make_env(config, n_envs=1)
    env.reset(demand=np.array([[0, 5, 0, 0]]))
    plan = [[0, 5], [5, 0], [0, 0], [0, 0]]  # (retailer, stage 1) orders per period
    cost = sum(env.step(np.array([p]))[4]["cost"].sum() for p in plan)
    assert cost == pytest.approx(15.0)


def test_lost_sales_are_charged_once():
    # lost sales at the retailer: the 3 units short in period 0 are charged once, not carried
    config = chain(3, n_stages=1, lead_time=[1], initial_on_hand=0, initial_pipeline=0, lost_sales=True)
    total, _, _ = clairvoyant_bound(config, np.array([3, 0, 0]))
    assert total == pytest.approx(3.0)


@pytest.mark.parametrize(
    "options",
    [{}, {"lost_sales": True}, {"fixed_order_cost": 5.0}, {"lead_time": [2, 3, 1]}, {"discount_factors": [1.0, 0.9, 0.8, 0.7, 0.6]}],
)
def test_bound_is_below_every_baseline_on_every_path(options):
    T, B = 40, 6
    config = chain(T, **options)
    rng = np.random.default_rng(11)
    demand = np.concatenate([rng.poisson(10, (3, T)), rng.integers(0, 21, (3, T))])  # (B, T)
    bounds, _ = clairvoyant_bounds(config, demand)
    env = make_env(config, n_envs=B)
    probe = make_env(config, n_envs=1)
    for name, cls in POLICIES.items():
        space = cls.param_space(probe, DemandSummary.of(demand))
        for _ in range(3):  # random parameter sets, one per path, drawn from each policy's own search grid
            params = np.stack([[v[rng.integers(len(v))] for v in space.values] for _ in range(B)]) if space.values else None
            cost = rollout(make_baseline(name, params), env, demand, record=False).sum(axis=1)
            assert (bounds <= cost + 1e-6).all(), (name, bounds, cost)


def test_bound_rejects_what_it_cannot_model():
    with pytest.raises(UserError, match="serial"):
        clairvoyant_bound(EnvConfig(kind="network"), np.zeros(200))
    with pytest.raises(UserError, match="shipping loss"):
        clairvoyant_bound(chain(10, max_loss_percent=10), np.zeros(10))
