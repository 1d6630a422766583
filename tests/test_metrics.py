"""Metrics against hand-computed values on small episodes."""
from __future__ import annotations

import numpy as np
import pytest

from agents.baselines import make_baseline, rollout
from envs import make_env
from utils.config import EnvConfig, SerialConfig
from utils.metrics import (
    agent_episode_cost,
    bullwhip_ratio,
    confidence_interval,
    cycle_service_level,
    episode_cost,
    fill_rate,
    ordering_fluctuation,
    paper_figure,
    summarize,
)

# two episodes, three periods, two agents
COST = np.array([[[1, 2], [3, 4], [5, 6]], [[0, 0], [1, 1], [2, 2]]], dtype=float)  # (B, T, N)
ORDERS = np.array([[[2, 0], [4, 0], [6, 0]], [[1, 0], [1, 0], [1, 0]]], dtype=float)
DEMAND = np.array([[1, 2, 3], [2, 2, 5]], dtype=float)  # (B, T)


def test_costs_and_paper_figure():
    assert episode_cost(COST).tolist() == [21, 6]
    assert agent_episode_cost(COST).tolist() == [[9, 12], [3, 3]]
    # chain cost per period: 3, 7, 11, 0, 2, 4 -> mean 4.5; per agent 2.25; reward is minus cost
    assert paper_figure(COST) == pytest.approx(-2.25)


def test_ordering_fluctuation_is_std_over_mean_averaged_over_episodes():
    f = ordering_fluctuation(ORDERS, periods=3)
    # agent 0: [2, 4, 6] -> sqrt(8/3) / 4; [1, 1, 1] -> 0; agent 1 never orders -> NaN (not a perfect 0)
    assert f[0] == pytest.approx(np.sqrt(8 / 3) / 4 / 2)
    assert np.isnan(f[1])
    # an agent that orders in one episode only: the mean over that episode, not NaN from the other
    some = ORDERS.copy()
    some[0, :, 1] = [3, 1, 2]
    assert ordering_fluctuation(some, periods=3)[1] == pytest.approx(np.sqrt(2 / 3) / 2)
    # the paper's first-199-periods window: with 2 periods, [2, 4] -> 1/3 and [1, 1] -> 0
    assert ordering_fluctuation(ORDERS, periods=2)[0] == pytest.approx(1 / 6)


def test_bullwhip_ratio():
    # Var(orders) 8/3 and 0; Var(demand) 2/3 and 2 -> ratios 4 and 0 -> mean 2
    w = bullwhip_ratio(ORDERS, DEMAND)
    assert w[0] == pytest.approx(2.0)
    assert w[1] == 0.0
    np.testing.assert_allclose(bullwhip_ratio(ORDERS, DEMAND[:, :, None]), w)  # (B, T, S) form


def test_fill_rate_and_cycle_service_level():
    seen = np.array([[[4], [0], [5]], [[2], [2], [2]]], dtype=float)
    unmet = np.array([[[1], [3], [0]], [[0], [5], [1]]], dtype=float)
    # new shortage min(r, u): 1, 0, 0, 0, 2, 1 -> 4 of 15 units; 3 of 6 periods without new shortage
    assert fill_rate(seen, unmet)[0] == pytest.approx(11 / 15)
    assert cycle_service_level(seen, unmet)[0] == pytest.approx(0.5)


def test_confidence_interval_uses_student_t():
    mean, half = confidence_interval(np.array([1.0, 2.0, 3.0]))
    assert mean == 2.0
    assert half == pytest.approx(4.302652729749464 / np.sqrt(3))  # t_{0.975, 2} * s / sqrt(n), s = 1


def test_metrics_of_a_hand_simulated_env_episode():
    # one stage, lead time 1, 5 on hand, nothing coming, never orders; demand 3, 4, 2:
    # period 0 ships 3 (2 left); period 1 ships 2 of 4 (2 owed, 2 new short); period 2 ships 0 of 2 + 2 (4 owed,
    # 2 new short).  Cost 2 + 2 + 4 = 8; fill rate 5/9; 1 of 3 periods without new shortage.
    config = EnvConfig(episode_length=3, serial=SerialConfig(n_stages=1, lead_time=[1], initial_on_hand=5, initial_pipeline=0))
    env = make_env(config, n_envs=1)
    r = rollout(make_baseline("constant_order", np.array([0.0])), env, np.array([[3, 4, 2]]))
    s = summarize(r)
    assert s["episode_cost"] == [8.0]
    assert s["fill_rate"][0] == pytest.approx(5 / 9)
    assert s["cycle_service_level"][0] == pytest.approx(1 / 3)
    assert s["mean_on_hand"][0] == pytest.approx(2 / 3)
    assert s["mean_backlog"][0] == pytest.approx(2.0)
    assert s["paper_figure"] == pytest.approx(-8 / 3)
