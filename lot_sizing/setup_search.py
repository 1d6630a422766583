"""Setup vectors for single-item lot sizing: decoding them into their optimal lots, and a local search.

A setup vector y (T,) says in which periods an order may be placed. Many vectors are decoded and
priced at once as one (P, T) bool array.

Decoding (setups -> lots), after a repair that opens just enough setups to make the plan feasible:
- no backlogging: production as late as possible, a backward pass that puts each period's demand
  (plus whatever later periods could not fit) in the latest open period with capacity left. The
  holding cost of a plan is sum_t d_t Hp[t] - sum_s x_s Hp[s] with Hp the cumulative holding rate,
  so making units as late as possible is optimal for the given setups; the repair opens, for the
  first period whose cumulative demand exceeds the cumulative open capacity, the latest closed
  period at or before it, until the cumulative condition (necessary and sufficient) holds.
- backlogging: without capacity each period's demand comes from the open setup that serves it
  cheapest (holding if earlier, backlog if later), which is optimal for the given setups; with a
  capacity the lots are the min-cost flow on the period path found by successive shortest paths,
  vectorised over the population (also optimal for the given setups). The repair opens the latest
  closed periods until the open capacity covers the total demand.
Decoded setups are written back into the chromosome (an order of zero is not a setup).

Local search: steepest descent over "flip one gene" and "move one setup to a neighbouring (or, with
``wide``, any) closed period". :func:`local_search_lot_sizing` runs it from the setups of the five
classic rules and keeps the best; the memetic GA (:mod:`lot_sizing.ga_lotsizing`) uses the same
descent as its memetic step.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from lot_sizing.classic import classic_rule_setups
from lot_sizing.core import (
    _FEAS_TOL,
    LotSizingPlan,
    PeriodValue,
    plan_cost,
    prepare_capacitated,
)


class _Problem:
    """Decoder and pricer of setup vectors for one lot-sizing instance (net demand, costs (T,))."""

    def __init__(self, net, setup, holding, backlog, capacity):
        self.net, self.setup, self.holding, self.backlog, self.cap = net, setup, holding, backlog, capacity
        T = net.size
        self.T = T
        self.memo: dict[bytes, tuple[np.ndarray, float]] = {}  # packed setups -> (lots (T,), cost)
        self.use_memo = backlog is not None or bool(np.isfinite(capacity).any())
        self.cum_net = np.cumsum(net)  # (T,)
        self.tol = 1e-6 + _FEAS_TOL * float(net.sum())
        self.first_demand = int(np.argmax(net > 0)) if np.any(net > 0) else 0
        if backlog is not None:
            hp = np.concatenate([[0.0], np.cumsum(holding)])
            bp = np.concatenate([[0.0], np.cumsum(backlog)])
            s, t = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
            # unit cost of serving period t's demand from an order in period s (hold or backlog)
            self.unit_cost = np.where(s <= t, hp[t] - hp[s], bp[s] - bp[t])  # (T_s, T_t)

    # -- repair ---------------------------------------------------------------------------------
    def repair(self, y: np.ndarray) -> None:
        """Open setups in place until the setups of y (P, T) admit a feasible plan."""
        P, T = y.shape
        if self.backlog is None:
            if np.isinf(self.cap).all():
                # Only a plan with no setup up to the first demand needs one (an earlier, cheaper
                # setup may serve it).
                f = self.first_demand
                y[:, f] |= (self.net[f] > 0) & ~y[:, : f + 1].any(axis=1)
                return
            for t in range(T):
                while True:
                    open_cap = np.where(y[:, : t + 1], self.cap[: t + 1], 0.0).sum(axis=1)  # (P,)
                    short = open_cap < self.cum_net[t] - self.tol
                    if not short.any():
                        break
                    rows = np.flatnonzero(short)
                    closed = ~y[rows, : t + 1]
                    if not closed.any(axis=1).all():  # inputs were checked, so this is a bug
                        raise RuntimeError(f"repair cannot cover the demand up to period {t}")
                    latest = t - np.argmax(closed[:, ::-1], axis=1)
                    y[rows, latest] = True
        else:
            total = self.cum_net[-1]
            if total <= 0:
                return
            while True:
                open_cap = np.where(y, self.cap, 0.0).sum(axis=1)
                short = open_cap < total - self.tol
                if not short.any():
                    return
                rows = np.flatnonzero(short)
                if y[rows].all(axis=1).any():
                    raise RuntimeError("repair cannot cover the total demand")
                latest = T - 1 - np.argmax(~y[rows, ::-1], axis=1)
                y[rows, latest] = True

    # -- decode ---------------------------------------------------------------------------------
    def orders(self, y: np.ndarray) -> np.ndarray:
        """Lots (P, T) of the repaired setup vectors y (P, T)."""
        P, T = y.shape
        open_cap = np.where(y, self.cap, 0.0)  # (P, T); inf where open and uncapacitated
        x = np.zeros((P, T))
        if self.backlog is None and np.isinf(self.cap).all():
            # Uncapacitated: each period's demand comes from the latest setup at or before it.
            last = np.maximum.accumulate(np.where(y, np.arange(T), 0), axis=1)  # (P, T)
            flat = (np.arange(P)[:, None] * T + last).ravel()
            return np.bincount(flat, weights=np.tile(self.net, P), minlength=P * T).reshape(P, T)
        if self.backlog is None:
            need = np.zeros(P)
            for t in range(T - 1, -1, -1):  # as late as possible
                need += self.net[t]
                x[:, t] = np.minimum(need, open_cap[:, t])
                need -= x[:, t]
            return x
        if np.isinf(self.cap).all():  # each demand from its cheapest open setup: exact
            cost = np.where(y[:, :, None], self.unit_cost[None], np.inf)  # (P, T_s, T_t)
            src = np.argmin(cost, axis=1)  # (P, T_t)
            np.add.at(x, (np.repeat(np.arange(P), T), src.ravel()), np.tile(self.net, P))
            return x
        return self._successive_shortest_paths(open_cap)

    def _successive_shortest_paths(self, open_cap: np.ndarray) -> np.ndarray:
        """Optimal lots (P, T) for given open capacities (P, T) when backlogging is allowed.

        The plan for fixed setups is a min-cost flow on a path: arcs k -> k+1 carry stock (h_k per
        unit), arcs k+1 -> k carry backlog (b_k). Demands are added in period order and each is
        routed along the cheapest residual path from an open setup with capacity left; pushing
        against the current flow of a cut cancels stock (-h_k) or backlog (-b_k), as far as that
        flow goes. Augmenting along shortest paths keeps the flow optimal (successive shortest
        paths), so the result is exact. ``flow[:, k]`` is the net stock at the end of period k.
        """
        P, T = open_cap.shape
        h, b, tol = self.holding[:-1], self.backlog[:-1], self.tol * 1e-3
        period, cuts = np.arange(T), np.arange(T - 1)
        left = open_cap.copy()
        flow = np.zeros((P, T - 1))  # (P, T-1) net flow across cut k (>0 stock, <0 backlog)
        x = np.zeros((P, T))
        for t in range(T):
            rem = np.full(P, self.net[t])
            a = np.flatnonzero(rem > tol)  # rows still routing this demand
            for _ in range(4 * T + 4):  # each pass ends a demand, a setup or a cut's flow
                if a.size == 0:
                    break
                fa, la = flow[a], left[a]
                zero = np.zeros((a.size, 1))
                forward = np.concatenate([zero, np.cumsum(np.where(fa >= 0, h, -b), axis=1)], axis=1)
                backward = np.concatenate([zero, np.cumsum(np.where(fa <= 0, b, -h), axis=1)], axis=1)
                path = np.where(period <= t, forward[:, [t]] - forward, backward - backward[:, [t]])
                src = np.argmin(np.where(la > tol, path, np.inf), axis=1)  # (A,)
                lo, hi = np.minimum(src, t), np.maximum(src, t)
                on_path = (cuts >= lo[:, None]) & (cuts < hi[:, None])  # (A, T-1)
                early = (src < t)[:, None]
                against = np.where(early, -fa, fa)  # flow the augmentation would cancel
                limit = np.where(on_path & (against > tol), against, np.inf).min(axis=1, initial=np.inf)
                amount = np.minimum(np.minimum(rem[a], la[np.arange(a.size), src]), limit)
                fa += np.where(on_path, np.where(early, 1.0, -1.0) * amount[:, None], 0.0)
                fa[np.abs(fa) <= tol] = 0.0
                flow[a] = fa
                left[a, src] -= amount
                x[a, src] += amount
                rem[a] -= amount
                a = a[rem[a] > tol]
        return x

    def cost(self, x: np.ndarray) -> np.ndarray:
        """Cost (P,) of lots x (P, T) on the net demand (initial stock is plan-independent)."""
        inventory = np.cumsum(x - self.net, axis=1)  # (P, T)
        c = (x > 0) @ self.setup + np.maximum(inventory, 0.0) @ self.holding
        if self.backlog is not None:
            c += np.maximum(-inventory, 0.0) @ self.backlog
        return c

    def evaluate(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Repair y (P, T) in place, write the real setups back; return (lots (P, T), cost (P,)).

        When decoding loops over periods (capacity or backlogging), decoded chromosomes are
        remembered: descents keep returning to the same local optima and would otherwise decode
        their whole neighbourhoods again. The uncapacitated decode is cheaper than the lookup.
        """
        if not self.use_memo:
            self.repair(y)
            x = self.orders(y)
            x[x <= self.tol * 1e-3] = 0.0
            y[:] = x > 0
            return x, self.cost(x)
        keys = [row.tobytes() for row in np.packbits(y, axis=1)]
        todo = [i for i, key in enumerate(keys) if key not in self.memo]
        if todo:
            fresh = y[todo]
            self.repair(fresh)
            x = self.orders(fresh)
            x[x <= self.tol * 1e-3] = 0.0
            cost = self.cost(x)
            for j, i in enumerate(todo):
                self.memo[keys[i]] = (x[j], cost[j])
        x = np.stack([self.memo[key][0] for key in keys])
        y[:] = x > 0
        return x, np.array([self.memo[key][1] for key in keys])


def _neighbours(y: np.ndarray, wide: bool) -> np.ndarray:
    """Setup vectors (M, T) one move from y (T,): flip one gene, or move one setup to a closed
    period - the next or previous one, or (``wide``) any closed period."""
    T = y.size
    flips = y[None, :] ^ np.eye(T, dtype=bool)  # (T, T)
    src, dst = np.nonzero(y[:, None] & ~y[None, :])  # every (open, closed) pair
    if not wide:
        near = np.abs(src - dst) == 1
        src, dst = src[near], dst[near]
    moved = np.repeat(y[None, :], src.size, axis=0)
    moved[np.arange(src.size), src] = False
    moved[np.arange(src.size), dst] = True
    return np.concatenate([flips, moved])


def _local_descent(problem: "_Problem", y: np.ndarray, x: np.ndarray, c: float, wide: bool):
    """Steepest descent from the setups y (T,) over `_neighbours`; returns (y, lots x (T,), cost)."""
    for _ in range(4 * problem.T):  # each step lowers the cost; the bound only guards the loop
        cand = _neighbours(y, wide)
        cand_x, cand_c = problem.evaluate(cand)
        i = int(np.argmin(cand_c))
        if cand_c[i] >= c - 1e-9 * max(1.0, abs(c)):
            break
        y, x, c = cand[i], cand_x[i], float(cand_c[i])
    return y, x, c


def local_search_lot_sizing(
    demand: np.ndarray,
    setup_cost: PeriodValue,
    holding_cost: PeriodValue,
    capacity: Optional[PeriodValue] = None,
    backlog_cost: Optional[PeriodValue] = None,
    initial_inventory: float = 0.0,
) -> LotSizingPlan:
    """Steepest descent (wide moves) from each classic rule's setups; the best local optimum.  demand: (T,)

    Deterministic, no population: the GA without its genetic part, to show what that part adds.
    """
    d, net, s, h, b, cap = prepare_capacitated(demand, setup_cost, holding_cost, capacity, backlog_cost, initial_inventory)
    problem = _Problem(net, s, h, b, cap)
    starts = classic_rule_setups(d, s, h, initial_inventory)  # (5, T)
    lots, cost = problem.evaluate(starts)
    best_x, best_c = None, np.inf
    for y, x, c in zip(starts, lots, cost):
        y, x, c = _local_descent(problem, y, x, float(c), True)
        if c < best_c:
            best_x, best_c = x, c
    return LotSizingPlan(best_x, plan_cost(d, best_x, s, h, b, initial_inventory, None if capacity is None else cap))
