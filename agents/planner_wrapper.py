"""The hybrid planner between a policy and a batched env: the policy proposes, lot sizing decides.

``OrderPlanner`` turns the orders a policy proposes into the orders placed, with
:mod:`lot_sizing.hybrid_planner` (pure functions over arrays); it keeps the only memory the planner
needs per chain: the forecast of later proposals and, with ``netting: history``, the running surplus
of orders placed over orders proposed. Two thin adapters use it:

* ``PlannerEnv`` wraps a batched env with the same API (reset / step / state / every attribute), so
  ``train_main.py`` trains a policy with the planner in the loop (config section ``planner:``);
* ``PlannedPolicy`` wraps a policy behind the baseline interface, so ``evaluate_main.py --planner NAME``
  evaluates a trained policy with the planner added at evaluation only (and the recorded orders, hence
  the ordering metrics, are the orders placed).

Two modes (``planner.mode``):

**net_requirements** (default; a graph whose nodes each have one supplier, e.g. the serial chain): every
period, for each chain and node, the lot-sizing problem of the coming ``planner.horizon`` periods of
arrivals, built from what the env holds and charges (the model and its mapping to the env's costs: the
docstring of :mod:`lot_sizing.hybrid_planner` and docs/hybrid_planner.md):

* inventory position IP = on-hand + pipeline + units the supplier owes - units owed to customers (the
  env's ``inventory_position()``), the lead time L of the node's supply edge;
* forecast f = exponentially smoothed demand the node has seen (m <- w d + (1 - w) m, w =
  ``planner.smoothing``; the customer demand at the retailer, the downstream order upstream);
* the policy's proposal a sets the safety stock: order-up-to level S = IP + a, SS = S - (L + 1) f;
* costs: the env's fixed order cost (or ``planner.fixed_order_cost``), the node's holding and shortage
  costs, the order cap as capacity. Back end ``exact`` (default) or ``ga``.

**retime** (the earlier mode): the proposals are requirements to re-time.
Requirements of row r (one chain and stage; on a network one node) for the next H periods:

* a node with one supplier (and every supplier edge with a single-supplier back end): r = (a + deficit, f, ..., f),
  a the current proposal, f the rounded forecast of later proposals (``planner.forecast``: the current
  proposal, or the smoothed mean m <- w a + (1 - w) m, w = ``planner.smoothing``);
* a node with several suppliers under ``dalsa``: the units that must *arrive* in each of the next H periods,
  ``lot_sizing.hybrid_planner.arrival_requirements``; DALSA then also chooses the suppliers.

Netting in retime (``planner.netting``): ``history`` (default) is the textbook rolling horizon: the surplus
g = placed - proposed so far is stock ordered ahead of the proposals and covers them first, so the
cumulative orders track the cumulative proposals, 0 <= g <= (H - 1) * order cap at every period
(tested). ``state`` plans on each proposal as it is, trusting a policy that sees its stock to propose
less after a large lot; it over-orders without bound when the policy does not react that way (an example
in docs/fixed_cost_table.md), so it is meant for policies trained with it in the loop.

The fixed cost the planner prices is ``planner.fixed_order_cost``, or the env's own fixed order cost
(``env.fixed_order_cost``; 0 on a network) when that is -1. At a zero fixed cost no lots are worth forming, and the proposals pass through
unchanged (on a network, supplier choice then also stays with the policy).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from lot_sizing.ga_lotsizing import GAConfig
from lot_sizing.hybrid_planner import (
    arrival_requirements,
    check_backend,
    first_lots,
    first_supplier_orders,
    net_requirement_orders,
    rolling_requirements,
)
from utils.config import PlannerConfig
from utils.errors import UserError

#: drop the planner's answer cache (exact, GA, DALSA) beyond this many rows (a long training run sees many distinct rows)
_CACHE_LIMIT = 200_000


class OrderPlanner:
    """Proposals (B, N, D) -> orders placed (B, N, D) for one batched env's shape and costs."""

    def __init__(self, config: PlannerConfig, env: Any) -> None:
        """config: the planner settings; env: the batched env whose orders are planned (its shape, fixed order
        cost and supply graph: order caps, holding costs, each supplier edge's lead time and price, read once here)."""
        self.config = config
        self.backend = check_backend(config.backend)
        self.horizon = config.horizon
        self.n_envs, self.n_agents = int(env.n_envs), int(env.n_agents)
        self.action_nvec = np.asarray(env.action_nvec).reshape(self.n_agents, -1)  # (N, D)
        graph = env.graph  # node holding costs, supplier edges (lead time, price) and order caps
        self.ga_config = GAConfig(population_size=config.ga_population_size, max_generations=config.ga_max_generations,
                                  patience=config.ga_patience, seed=config.ga_seed)
        self.cache: dict = {}
        self.fixed_order_cost = float(env.fixed_order_cost) if config.fixed_order_cost == -1 else config.fixed_order_cost
        self.node_edges = [list(edges) for edges in graph.in_edges]  # supplier edges of each node, action order
        self.edge_lead = np.asarray(graph.edge_lead)  # (E,)
        self.edge_price = np.asarray(graph.edge_price)  # (E,)
        self.node_holding = np.asarray(graph.holding_cost, dtype=float)  # (N,)
        self.cap = float(self.action_nvec.max() - 1)
        self.env, self.graph, self.mode = env, graph, config.mode
        if self.mode == "net_requirements" and (not graph.single_sourced or self.backend not in ("exact", "ga")):
            where = f"back end '{self.backend}'" if graph.single_sourced else "nodes with several suppliers"
            raise UserError(f"planner.mode net_requirements plans nodes with one supplier with back end exact or ga, not {where}; "
                            "set planner.mode=retime to re-time the proposals instead")
        if self.mode == "retime" and self.backend == "exact":
            raise UserError("planner back end 'exact' solves planner.mode net_requirements; retime uses wagner_whitin, silver_meal, ga or dalsa")
        # DALSA plans a node's arrivals over all its suppliers; with one supplier per node there is nothing to
        # split, and each order is a lot-sizing row like the other back ends'
        self.split_suppliers = self.backend == "dalsa" and not graph.single_sourced
        if self.split_suppliers:
            if config.netting == "history":
                raise UserError("planner.netting 'history' is not defined for dalsa with several suppliers per node (it "
                                "plans arrivals); set planner.netting=state")
            longest = int(self.edge_lead.max())
            if self.horizon <= longest:
                raise UserError(f"planner.horizon is {self.horizon} but must exceed the longest lead time {longest} for dalsa "
                                "with several suppliers per node")
        self.reset()

    def reset(self) -> None:
        """Forget the forecasts and the surplus: call at every env reset."""
        self.mean: np.ndarray | None = None  # (B, N, D) smoothed proposals (retime)
        self.demand_mean: np.ndarray | None = None  # (B, N) smoothed demand seen (net_requirements)
        self.surplus = np.zeros((self.n_envs, self.n_agents, self.action_nvec.shape[1]))  # placed - proposed so far

    def _forecast(self, proposals: np.ndarray) -> np.ndarray:
        """Update and return the forecast of later proposals, rounded to whole units.  (B, N, D) -> (B, N, D)"""
        if self.config.forecast == "current" or self.mean is None:
            self.mean = proposals.astype(float)
        else:
            w = self.config.smoothing
            self.mean = w * proposals + (1.0 - w) * self.mean
        return np.rint(self.mean)

    def orders(self, proposals: np.ndarray) -> np.ndarray:
        """Orders to place now.  proposals int (B, N, D) (or (B, N)) within the action space -> int64 (B, N, D)."""
        proposals = np.asarray(proposals)
        if proposals.ndim == 2:
            proposals = proposals[:, :, None]
        if proposals.shape != (self.n_envs, self.n_agents, self.action_nvec.shape[1]):
            raise UserError(f"proposals have shape {proposals.shape}; expected (n_envs, n_agents, action dims) = "
                            f"{(self.n_envs, self.n_agents, self.action_nvec.shape[1])}")
        if self.mode == "net_requirements":
            placed = np.clip(np.rint(self._net_requirement_orders(proposals)), 0, self.action_nvec[None] - 1).astype(np.int64)
            self.surplus += placed - proposals
            return placed
        forecast = self._forecast(proposals)
        if self.fixed_order_cost == 0:
            placed = proposals.astype(np.float64)  # no lots worth forming: the policy's orders as they are
        elif self.split_suppliers:
            placed = self._dalsa_orders(proposals, forecast)
        else:
            placed = self._single_supplier_orders(proposals, forecast)
        placed = np.clip(np.rint(placed), 0, self.action_nvec[None] - 1).astype(np.int64)
        self.surplus += placed - proposals
        return placed

    def _net_requirement_orders(self, proposals: np.ndarray) -> np.ndarray:
        """Each (chain, node) as the lot-sizing problem of its net requirements.  -> (B, N, 1)"""
        env, graph = self.env, self.graph
        seen = np.asarray(env.demand_seen, dtype=float)  # (B, N) demand each node saw last period
        w = self.config.smoothing
        self.demand_mean = seen.copy() if self.demand_mean is None else w * seen + (1.0 - w) * self.demand_mean
        B, N = seen.shape
        lead = np.array([graph.edge_lead[edges[0]] for edges in graph.in_edges])  # (N,) the one supply edge of each node
        per_row = lambda v: np.broadcast_to(np.asarray(v, dtype=float), (B, N)).ravel()  # noqa: E731
        orders = net_requirement_orders(
            env.inventory_position().ravel(), proposals[:, :, 0].ravel(), self.demand_mean.ravel(), per_row(lead),
            self.fixed_order_cost, per_row(graph.holding_cost), per_row(graph.shortage_cost), int(self.cap), self.horizon,
            self.backend, self.ga_config, self._cache())
        return orders.reshape(B, N, 1)

    def _single_supplier_orders(self, proposals: np.ndarray, forecast: np.ndarray) -> np.ndarray:
        """Every (chain, stage) or (chain, node, supplier) as its own lot-sizing row.  -> (B, N, D)"""
        B, N, D = proposals.shape
        active = np.broadcast_to(self.action_nvec[None] > 1, (B, N, D))  # padding dimensions stay 0
        a, f = proposals[active].astype(float), forecast[active]
        holding = np.broadcast_to(self.node_holding[None, :, None], (B, N, D))[active]
        stock, deficit = 0.0, None
        if self.config.netting == "history":
            g = self.surplus[active]
            stock, deficit = np.maximum(g, 0.0), np.maximum(-g, 0.0)
        req = rolling_requirements(a, f, self.horizon, deficit)  # (R, H)
        lots = first_lots(req, self.fixed_order_cost, holding, self.backend, self.cap, stock, self.ga_config,
                          self.config.dalsa_phase2, self._cache())
        placed = np.zeros((B, N, D))
        placed[active] = lots
        return placed

    def _dalsa_orders(self, proposals: np.ndarray, forecast: np.ndarray) -> np.ndarray:
        """Each network node's arrivals planned by DALSA over its suppliers.  -> (B, N, D)"""
        placed = np.zeros(proposals.shape)
        for i, edges in enumerate(self.node_edges):
            k = len(edges)
            lead = np.broadcast_to(self.edge_lead[edges], (self.n_envs, k))
            price = np.broadcast_to(self.edge_price[edges], (self.n_envs, k))
            req = arrival_requirements(proposals[:, i, :k], forecast[:, i, :k], lead, self.horizon)  # (B, H)
            placed[:, i, :k] = first_supplier_orders(req, lead, price, self.fixed_order_cost, self.node_holding[i], self.cap,
                                                     0.0, self.config.dalsa_phase2, self._cache())
        return placed

    def _cache(self) -> dict | None:
        if self.backend not in ("ga", "dalsa", "exact"):
            return None
        if len(self.cache) > _CACHE_LIMIT:
            self.cache.clear()
        return self.cache


class PlannerEnv:
    """A batched env whose ``step`` takes the policy's proposals and places the planner's orders.

    Same API as the wrapped env (every attribute not defined here is the env's own); ``info`` also
    holds ``proposed`` (what the policy asked for) and ``orders`` (what was placed), both (B, N, D).
    """

    def __init__(self, env: Any, planner: OrderPlanner) -> None:
        self.env = env
        self.planner = planner

    def reset(self, seed: int | None = None, demand: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
        """reset the env and the planner's memory.  -> obs (B, N, obs_dim), info"""
        out = self.env.reset(seed=seed, demand=demand)
        self.planner.reset()
        return out

    def step(self, actions: np.ndarray):
        """actions = the policy's proposals, int (B, N, D) or (B, N); the env receives the planned orders."""
        proposals = self.env.check_actions(actions)  # the env's own action checks, on what the policy sent
        placed = self.planner.orders(proposals)
        obs, rewards, terminated, truncated, info = self.env.step(placed)
        info = dict(info, proposed=proposals, orders=placed)
        return obs, rewards, terminated, truncated, info

    def __getattr__(self, name: str) -> Any:
        if name in ("env", "planner"):  # not set yet (e.g. during copying): no recursion into self.env
            raise AttributeError(name)
        return getattr(self.env, name)


class PlannedPolicy:
    """A policy (baseline interface: reset(env), act(obs, env)) whose proposals go through the planner."""

    def __init__(self, policy: Any, planner: OrderPlanner) -> None:
        self.policy = policy
        self.planner = planner
        self.name = f"{policy.name} + {planner.backend} planner"

    def reset(self, env: Any) -> None:
        self.policy.reset(env)
        self.planner.reset()

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        """obs (B, N, obs_dim) -> orders placed int (B, N, D)."""
        return self.planner.orders(env.check_actions(self.policy.act(obs, env)))


def with_planner(env: Any, config: PlannerConfig) -> Any:
    """The env itself when the planner is off, else the env wrapped so the planner places its orders."""
    return PlannerEnv(env, OrderPlanner(config, env)) if config.enabled else env
