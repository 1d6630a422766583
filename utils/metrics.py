"""Evaluation metrics: one definition each, computed from a recorded rollout.

Notation: ``b`` episode (one demand file), ``t`` period, ``i`` agent (stage or node), ``T`` periods,
``N`` agents, ``c[b,t,i]`` the raw cost of agent i (``info["cost"]``), ``q[b,t,i]`` the units agent i
ordered (summed over its suppliers), ``r[b,t,i]`` the new demand it saw (customer demand for a
retailer, the orders of its customers otherwise), ``u[b,t,i]`` the units it still owed (or lost) at the
end of the period, ``d[b,t]`` the customer demand (summed over customer streams).

* total cost per episode          C_b = sum_{t,i} c[b,t,i];  per agent C_{b,i} = sum_t c[b,t,i]
* paper figure                    -(1/(B T)) sum_{b,t} (1/N) sum_i c[b,t,i]   (mean per-agent reward)
* ordering fluctuation (paper)    F_i = mean_b std_t(q[b,t,i]) / mean_t(q[b,t,i]) over t < 199
* bullwhip ratio                  W_i = mean_b Var_t(q[b,t,i]) / Var_t(d[b,t])
* fill rate                       FR_i = sum_{b,t} (r - min(r, u)) / sum_{b,t} r
  (units owed from earlier periods are served first, so the new demand left unmet is min(r, u))
* cycle service level             CSL_i = share of (b, t) with min(r, u) = 0 (no new shortage)
* mean on-hand / mean backlog     mean_{b,t} of on-hand and of u

Standard deviations and variances are population ones (ddof = 0), as numpy computes them by default.
A ratio with a zero denominator (an agent that never orders, constant demand) is NaN, not a number
that would read as perfect; the fluctuation averages over the episodes in which the agent ordered, so it
is NaN only for an agent that never ordered (evaluate_main's table then says "no orders").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The paper measures ordering fluctuation over the first 199 periods of its 200-period episodes.
PAPER_FLUCTUATION_PERIODS = 199


@dataclass
class Rollout:
    """What one batch of episodes did, period by period (filled by ``agents.rollout.rollout``)."""

    cost: np.ndarray  # (B, T, N) raw cost per agent and period
    orders: np.ndarray  # (B, T, N) units ordered by each agent (summed over its suppliers)
    demand_seen: np.ndarray  # (B, T, N) new demand each agent faced this period
    unmet: np.ndarray  # (B, T, N) units owed (or lost) at the end of the period
    on_hand: np.ndarray  # (B, T, N) units on hand at the end of the period
    customer_demand: np.ndarray  # (B, T, S) customer demand per stream


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.broadcast_arrays(np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64))
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def episode_cost(cost: np.ndarray) -> np.ndarray:
    """Chain cost of each episode.  cost (B, T, N) -> (B,)."""
    return cost.sum(axis=(1, 2))


def agent_episode_cost(cost: np.ndarray) -> np.ndarray:
    """Cost of each agent in each episode.  cost (B, T, N) -> (B, N)."""
    return cost.sum(axis=1)


def paper_figure(cost: np.ndarray) -> float:
    """The paper's reported number: the mean over episodes and periods of the per-agent mean reward,
    i.e. minus the chain cost per period divided by the number of agents.  cost (B, T, N)."""
    return float(-cost.mean(axis=(0, 1)).sum() / cost.shape[2])


def ordering_fluctuation(orders: np.ndarray, periods: int = PAPER_FLUCTUATION_PERIODS) -> np.ndarray:
    """The paper's fluctuation: per agent std/mean of its orders over the first `periods` periods,
    averaged over the episodes in which the agent ordered (std/mean is undefined without orders).
    NaN for an agent that never ordered in any episode.  orders (B, T, N) -> (N,)."""
    q = orders[:, :periods].astype(np.float64)
    ratio = _safe_ratio(q.std(axis=1), q.mean(axis=1))  # (B, N), NaN where an episode has no orders
    defined = ~np.isnan(ratio)
    n = defined.sum(axis=0)
    return _safe_ratio(np.where(defined, ratio, 0.0).sum(axis=0), n)


def bullwhip_ratio(orders: np.ndarray, customer_demand: np.ndarray) -> np.ndarray:
    """Classical bullwhip: Var(orders of agent i) / Var(customer demand), per episode, averaged over episodes.

    orders (B, T, N), customer_demand (B, T) or (B, T, S) (streams are summed) -> (N,).
    """
    d = customer_demand.sum(axis=2) if customer_demand.ndim == 3 else customer_demand
    return np.mean(_safe_ratio(orders.astype(np.float64).var(axis=1), d.astype(np.float64).var(axis=1)[:, None]), axis=0)


def new_shortage(demand_seen: np.ndarray, unmet: np.ndarray) -> np.ndarray:
    """New demand not met from stock in the period it arrived: min(r, u) (old debts are served first).  (B, T, N)"""
    return np.minimum(demand_seen, unmet)


def fill_rate(demand_seen: np.ndarray, unmet: np.ndarray) -> np.ndarray:
    """Share of demand met from stock in the period it arrives, per agent.  (B, T, N) -> (N,)."""
    r = demand_seen.astype(np.float64)
    return _safe_ratio((r - new_shortage(demand_seen, unmet)).sum(axis=(0, 1)), r.sum(axis=(0, 1)))


def cycle_service_level(demand_seen: np.ndarray, unmet: np.ndarray) -> np.ndarray:
    """Share of periods without new shortage (no new backlog or lost sale), per agent.  (B, T, N) -> (N,)."""
    return (new_shortage(demand_seen, unmet) == 0).mean(axis=(0, 1))


def confidence_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the Student-t confidence interval of the mean of i.i.d. values (one per file)."""
    from scipy import stats  # imported here: scipy.stats takes a second to import and only this needs it

    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if values.size < 2:
        return mean, float("nan")
    half = stats.t.ppf(0.5 + level / 2, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    return mean, float(half)


def summarize(rollout: Rollout) -> dict:
    """Every metric of a rollout as plain numbers and lists (JSON-ready)."""
    chain = episode_cost(rollout.cost)
    mean, half = confidence_interval(chain)
    return {
        "cost_mean": mean,
        "cost_ci95": half,
        "agent_cost": agent_episode_cost(rollout.cost).mean(axis=0).tolist(),
        "paper_figure": paper_figure(rollout.cost),
        "ordering_fluctuation": ordering_fluctuation(rollout.orders).tolist(),
        "bullwhip": bullwhip_ratio(rollout.orders, rollout.customer_demand).tolist(),
        "fill_rate": fill_rate(rollout.demand_seen, rollout.unmet).tolist(),
        "cycle_service_level": cycle_service_level(rollout.demand_seen, rollout.unmet).tolist(),
        "mean_on_hand": rollout.on_hand.mean(axis=(0, 1)).tolist(),
        "mean_backlog": rollout.unmet.mean(axis=(0, 1)).tolist(),
        "episode_cost": chain.tolist(),
        "episode_agent_cost": agent_episode_cost(rollout.cost).tolist(),
    }
