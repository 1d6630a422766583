"""The serial supply chain of Liu et al.: stage 0 (retailer) ... stage N-1 (top, fed by an outside supplier).

One period, every stage acting on the state at the end of the previous period (no stage sees another's
update of the same period), so all stages are computed at once with arrays shaped (B, N):

1. Stage i must ship r_i + backlog_i, where r_0 is the customer demand and r_i (i >= 1) is the order
   placed this period by stage i-1.
2. Available = on-hand + the head of its pipeline (reduced by shipping loss when on).
3. It ships min(due, available); the rest of what is due is backlog (or, at the retailer with lost
   sales, is lost and charged once); the rest of available stays on hand.
4. Pipelines advance one slot; what stage i+1 shipped enters stage i's pipeline at slot L_i - 1 (usable
   L_i periods later); the top stage's own order enters in full.
5. Cost_i = h_i * on-hand + b_i * backlog (+ fixed cost when units entered the pipeline, + all-units
   discounted purchase cost of the quantity ordered).

Observation of stage i (raw units, divided by the order cap): on-hand, backlog, r_i, pipeline slots
0..L_max-1; opt-in extras: inventory position, units its supplier owes it, echelon inventory position,
then the extras every env kind offers (own demand history, shared customer demand, fraction of episode left).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from envs.base_env import BatchedInventoryEnv, DemandSampler
from envs.supply_graph import SupplyGraph
from utils.config import EnvConfig, per_stage
from utils.errors import UserError


class SerialEnv(BatchedInventoryEnv):
    """Batched serial chain; see the module docstring for the exact period."""

    n_streams = 1

    def __init__(
        self,
        config: EnvConfig | None = None,
        n_envs: int = 1,
        demand_sampler: DemandSampler | None = None,
        seed: int | None = None,
    ) -> None:
        config = config or EnvConfig()
        s = config.serial
        super().__init__(n_envs, config, demand_sampler, seed)
        n = s.n_stages
        self.n_agents = n
        self.agent_names = ["retailer" if i == 0 else f"stage_{i}" for i in range(n)]
        self.order_cap = config.order_cap
        self.action_nvec = np.full((n, 1), config.order_cap + 1, dtype=np.int64)
        self.lead_time = np.array(per_stage(s.lead_time, n, "env.serial.lead_time"), dtype=np.int64)  # (N,)
        self.n_slots = int(self.lead_time.max())
        self.holding_cost = np.array(per_stage(s.holding_cost, n, "env.serial.holding_cost"), dtype=np.float64)
        self.backlog_cost = np.array(per_stage(s.backlog_cost, n, "env.serial.backlog_cost"), dtype=np.float64)
        self.initial_on_hand = s.initial_on_hand
        self.initial_pipeline = s.initial_pipeline
        self.fixed_order_cost = s.fixed_order_cost
        self.max_loss_percent = s.max_loss_percent
        self.random_shipping_loss = s.max_loss_percent > 0
        self._injected_loss: np.ndarray | None = None  # a recorded run's loss percentages for this step (see step)
        self.lost_sales = s.lost_sales
        # purchase price per order quantity 0..cap and stage, precomputed: price[q, i] = factor(q) * unit_i * q
        self.purchase_cost = None
        unit = np.array(per_stage(s.unit_order_cost, n, "env.serial.unit_order_cost"), dtype=np.float64)
        if s.discount_factors:
            q = np.arange(config.order_cap + 1)
            factor = np.asarray(s.discount_factors, dtype=np.float64)[q // s.discount_tier_width]
            self.purchase_cost = factor[:, None] * unit[None, :] * q[:, None]  # (cap + 1, N)
        self.uniform_lead = bool((self.lead_time == self.n_slots).all())
        # the lowest price per unit ordered: what a lower bound may charge for purchases (all-units discounts)
        price_floor = np.zeros(n) if self.purchase_cost is None else min(s.discount_factors) * unit
        self.graph = SupplyGraph.chain(
            self.agent_names, self.lead_time, config.order_cap, self.holding_cost, self.backlog_cost, price_floor, s.lost_sales
        )
        self.reset_customer_demand = s.initial_pipeline  # as the retailer's "demand seen" at reset (paper)
        self.reset_shows_demand = True  # the paper's observation shows the initial pipeline level as demand seen
        self._init_observation(config, float(config.order_cap))
        # slot mask: stage i uses slots 0..L_i-1 of the (B, N, L_max) pipeline array
        self._slot_mask = np.arange(self.n_slots)[None, :] < self.lead_time[:, None]  # (N, L_max)
        self._stage_index = np.arange(n)
        self._env_index = np.arange(n_envs)[:, None]  # (B, 1): with per-env lead times (set_per_env_parameters)
        self._begin_episode()

    def set_per_env_parameters(
        self, lead_time: np.ndarray, holding_cost: np.ndarray, backlog_cost: np.ndarray
    ) -> None:
        """Give every chain its own lead times and costs, so one env object runs many tasks side by side.

        lead_time int (B, N), each 1..n_slots (the observation keeps the config's n_slots = longest lead
        time, so all chains share one observation size: slots beyond a stage's lead time stay 0);
        holding_cost, backlog_cost float (B, N). Takes effect at the next ``reset``. ``graph`` keeps the config's
        lead times and costs (one graph describes every chain only without per-env parameters), so classic
        baselines and the clairvoyant bound, which read it, are run on one task's own env.
        """
        shape = (self.n_envs, self.n_agents)
        arrays = {"lead_time": lead_time, "holding_cost": holding_cost, "backlog_cost": backlog_cost}
        for name, value in arrays.items():
            if np.shape(value) != shape:
                raise UserError(f"per-env {name} has shape {np.shape(value)} but must be (n_envs, n_agents) = {shape}")
        lead = np.asarray(lead_time, dtype=np.int64)
        if lead.min() < 1 or lead.max() > self.n_slots:
            raise UserError(
                f"per-env lead times must be 1..{self.n_slots} (the config's longest lead time sets the slots); "
                "raise env.serial.lead_time"
            )
        self.lead_time = lead  # (B, N)
        self.holding_cost = np.asarray(holding_cost, dtype=np.float64)  # (B, N)
        self.backlog_cost = np.asarray(backlog_cost, dtype=np.float64)  # (B, N)
        self._slot_mask = np.arange(self.n_slots)[None, None, :] < lead[:, :, None]  # (B, N, L_max)
        self.uniform_lead = False
        self._needs_reset = True

    def _reset_state(self) -> None:
        B, N = self.n_envs, self.n_agents
        self.on_hand = np.full((B, N), self.initial_on_hand, dtype=np.int64)
        self.backlog = np.zeros((B, N), dtype=np.int64)
        if self._slot_mask.ndim == 2:  # one lead time per stage, shared by all chains
            self.pipeline = np.where(self._slot_mask, self.initial_pipeline, 0)[None].repeat(B, axis=0).astype(np.int64)
        else:  # per-env lead times: the mask is (B, N, L_max) already
            self.pipeline = np.where(self._slot_mask, self.initial_pipeline, 0).astype(np.int64)
        # the paper's observation shows the initial pipeline level where later it shows the demand seen
        self.demand_seen = np.full((B, N), self.initial_pipeline, dtype=np.int64)

    def step(self, actions: np.ndarray, loss_percent: np.ndarray | None = None):
        """One period for every chain.  actions int (B, N) or (B, N, 1).

        loss_percent: optional int (B, N) shipping-loss percentages to use this period instead of
        drawing them (so a recorded run can be replayed exactly); needs ``max_loss_percent > 0``.
        """
        self._injected_loss = loss_percent
        return super().step(actions)

    def _advance(self, demand_t: np.ndarray, actions: np.ndarray) -> dict[str, Any]:
        orders = actions[:, :, 0]  # (B, N)
        seen = np.empty_like(orders)  # r_i: (B, N)
        seen[:, 0] = demand_t[:, 0]
        seen[:, 1:] = orders[:, :-1]
        due = seen + self.backlog

        arrived = self.pipeline[:, :, 0].copy()  # a copy: the pipeline shifts below
        lost = None
        if self.max_loss_percent > 0:
            k = self._injected_loss
            if k is None:
                k = self.rng.integers(0, self.max_loss_percent + 1, size=arrived.shape)
            kept = arrived * (100 - np.asarray(k, dtype=np.int64)) // 100  # exact integer form of trunc(q*(1-k/100))
            lost = arrived - kept
            arrived = kept
        available = self.on_hand + arrived
        shipped = np.minimum(due, available)
        self.on_hand = available - shipped
        unmet = due - shipped
        if self.lost_sales:
            self.backlog = unmet.copy()
            self.backlog[:, 0] = 0  # the retailer's unmet customer demand is charged once, then gone
        else:
            self.backlog = unmet

        inflow = np.empty_like(orders)  # units entering each stage's pipeline: (B, N)
        inflow[:, :-1] = shipped[:, 1:]
        inflow[:, -1] = orders[:, -1]
        self.pipeline[:, :, :-1] = self.pipeline[:, :, 1:]
        self.pipeline[:, :, -1] = 0
        if self.uniform_lead:
            self.pipeline[:, :, -1] = inflow
        elif self.lead_time.ndim == 1:
            self.pipeline[:, self._stage_index, self.lead_time - 1] = inflow
        else:  # per-env lead times (B, N)
            self.pipeline[self._env_index, self._stage_index, self.lead_time - 1] = inflow
        self.demand_seen = seen

        cost = self.holding_cost * self.on_hand + self.backlog_cost * unmet
        if self.fixed_order_cost > 0:
            cost = cost + self.fixed_order_cost * (inflow > 0)
        if self.purchase_cost is not None:
            cost = cost + self.purchase_cost[orders, self._stage_index]
        info = {"cost": cost, "shipped": shipped, "arrived": arrived, "inflow": inflow, "unmet": unmet}
        if lost is not None:
            info["lost_in_transit"] = lost
        return info

    # ------------------------------------------------------------------ read API (declared in base_env)
    def owed_on_edges(self) -> np.ndarray:
        """Units each stage's supplier still owes it (edge i leads into stage i; the top's source owes nothing).  (B, N)"""
        return self.supplier_owed()

    def supplier_owed(self) -> np.ndarray:
        """Units each stage's supplier still owes it (the supplier's backlog; 0 for the top stage).  (B, N)"""
        owed = np.zeros_like(self.backlog)
        owed[:, :-1] = self.backlog[:, 1:]
        return owed

    def owed_to_customers(self) -> np.ndarray:
        """Units each stage owes its customer (its backlog; the retailer's is 0 with lost sales).  (B, N)"""
        return self.backlog

    def _observed_shortage(self) -> np.ndarray:
        return self.backlog
