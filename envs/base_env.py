"""The batched engine shared by the serial chain and the network.

One environment object simulates ``n_envs`` independent supply chains in lockstep, with numpy arrays
shaped ``(n_envs, n_agents, ...)``: loops run over time (the caller's) and over nodes (the network's
allocation), never over environments. A single chain is ``n_envs = 1``.

The API uses the Gymnasium / PettingZoo vocabulary, batched:

* ``reset(seed=None, demand=None) -> obs (B, N, obs_dim), info``
* ``step(actions (B, N, D) int) -> obs, rewards (B, N), terminated (B,), truncated (B,), info``
* ``state() -> (B, state_dim)``: the global state for a centralized critic

and one read API every consumer (baselines, planner, clairvoyant bound, metrics) uses whatever the graph:
``graph`` (``envs.supply_graph.SupplyGraph``: nodes, supplier edges, action layout), the state ``on_hand``
(B, N), ``pipeline`` (B, N, L_max), ``demand_seen`` (B, N), ``t``, and ``inventory_position()``,
``supplier_owed()``, ``owed_on_edges()``, ``owed_to_customers()``, ``echelon_position()`` (chains only).

An episode ends by its time limit, so it is reported as ``truncated`` (a value function must still
bootstrap there); ``terminated`` is always False. ``rewards`` is the configured training reward;
``info["cost"]`` (B, N) is always each agent's raw cost, and evaluation uses only that.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from envs.reward_functions import mixed_reward
from envs.supply_graph import SupplyGraph
from utils.config import EnvConfig
from utils.errors import UserError

#: draws demand for a batch: (rng, n_envs, length, n_streams) -> int (n_envs, length, n_streams)
DemandSampler = Callable[[np.random.Generator, int, int, int], np.ndarray]


class BatchedInventoryEnv:
    """Common bookkeeping: demand, time, action checks, rewards, truncation, observation scaling.

    Subclasses set ``graph``, ``n_agents``, ``agent_names``, ``action_nvec`` (N, D), ``n_streams`` and the
    state arrays, call ``_init_observation``, and implement ``_reset_state``, ``_advance``, the owed-units
    reads (``owed_on_edges``, ``supplier_owed``, ``owed_to_customers``) and ``_observed_shortage``.
    """

    graph: SupplyGraph  # nodes, supplier edges and the action layout (envs/supply_graph.py)
    on_hand: np.ndarray  # (B, N) units on hand at the end of the last period
    pipeline: np.ndarray  # (B, N, L_max) units in transit to each node, slot 0 arriving next
    demand_seen: np.ndarray  # (B, N) new demand each node faced in the last period
    fixed_order_cost: float = 0.0  # charged to a node in a period in which units enter its pipeline (0 = none)
    reset_shows_demand: bool = False  # demand_seen at reset is a demand level a forecast may start from (else it is 0)
    random_shipping_loss: bool = False  # units in transit are lost at random (no LP bound can price them without the draws)

    n_agents: int
    agent_names: list[str]
    action_nvec: np.ndarray  # (N, D) number of choices per action dimension; a 1 is a padding dimension
    n_streams: int  # customer demand streams
    reset_customer_demand: int  # what the shared customer-demand history shows for periods before the start
    obs_dim: int
    obs_scale: float  # observations are raw units divided by this (the paper divides by the order cap)

    def __init__(self, n_envs: int, config: EnvConfig, demand_sampler: DemandSampler | None, seed: int | None) -> None:
        """config: episode length, reward mix and the observation options shared by every env kind."""
        if n_envs < 1:
            raise UserError(f"n_envs is {n_envs}; it must be at least 1")
        for key in ("obs_demand_history", "obs_shared_demand"):
            if getattr(config, key) < 0:
                raise UserError(f"env.{key} is {getattr(config, key)}; give 0 (off) or a number of periods")
        self.n_envs = n_envs
        self.episode_length = config.episode_length
        self.reward_alpha = config.reward_alpha
        self.demand_sampler = demand_sampler
        self.obs_time_left = config.obs_time_left
        self.obs_demand_history = config.obs_demand_history
        self.obs_shared_demand = config.obs_shared_demand
        self.rng = np.random.default_rng(seed)
        self.t = 0
        self.demand = np.zeros((n_envs, self.episode_length, 1), dtype=np.int64)  # (B, T, S)
        self._needs_reset = True
        self._latest_observation: np.ndarray | None = None  # a copy of what reset()/step() returned last

    @property
    def n_shared_features(self) -> int:
        """Observation features every env kind appends after its own: demand history, shared customer
        demand and time left."""
        return self.obs_demand_history + self.obs_shared_demand * self.n_streams + int(self.obs_time_left)

    # ------------------------------------------------------------------ public API
    @property
    def state_dim(self) -> int:
        return self.n_agents * self.obs_dim + 1

    def reset(self, seed: int | None = None, demand: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
        """Start new episodes.  demand: int (B, T) or (B, T, S), T >= episode_length; None draws it.

        Returns obs (B, N, obs_dim) float32 and an info dict.
        """
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        if demand is None:
            if self.demand_sampler is None:
                raise UserError("this environment has no demand generator; pass demand=... to reset()")
            demand = self.demand_sampler(self.rng, self.n_envs, self.episode_length, self.n_streams)
        self.demand = self._check_demand(demand)
        self.t = 0
        self._needs_reset = False
        self._begin_episode()
        return self._observe(), {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Advance every chain by one period.  actions int (B, N, D) (or (B, N) when D = 1)."""
        if self._needs_reset:
            raise UserError("step() called before reset() or after the episode ended; call reset() first")
        actions = self.check_actions(actions)
        if self.obs_demand_history:  # newest first: slot 0 is the demand seen one period before the current one
            self.demand_history[:, :, 1:] = self.demand_history[:, :, :-1]
            self.demand_history[:, :, 0] = self.demand_seen
        if self.obs_shared_demand:  # newest first: slot 0 becomes the customer demand of this period
            self.customer_history[:, :, 1:] = self.customer_history[:, :, :-1]
            self.customer_history[:, :, 0] = self.demand[:, self.t, :]
        info = self._advance(self.demand[:, self.t, :], actions)
        cost = info["cost"]  # (B, N)
        self.t += 1
        rewards = mixed_reward(cost, self.reward_alpha)
        done = self.t >= self.episode_length
        self._needs_reset = done
        terminated = np.zeros(self.n_envs, dtype=bool)
        truncated = np.full(self.n_envs, done, dtype=bool)
        return self._observe(), rewards, terminated, truncated, info

    def state(self) -> np.ndarray:
        """Global state for the centralized critic: every agent's observation and the time left.  (B, state_dim)"""
        obs = self._latest_observation  # the chains only change in reset() and step(), which set it
        if obs is None:  # not reset yet: the initial chains
            obs = self._observation()
        time_left = np.full((self.n_envs, 1), 1.0 - self.t / self.episode_length, dtype=np.float32)
        return np.concatenate([obs.reshape(self.n_envs, -1), time_left], axis=1)

    # ------------------------------------------------------------------ helpers for subclasses
    def _begin_episode(self) -> None:
        """Initial state of every chain, and of the demand history the observation may carry."""
        self._reset_state()
        # before the first period the history repeats what the observation shows as demand seen at reset
        self.demand_history = np.repeat(self.demand_seen[:, :, None], self.obs_demand_history, axis=2)  # (B, N, k)
        self.customer_history = np.full(
            (self.n_envs, self.n_streams, self.obs_shared_demand), self.reset_customer_demand, dtype=np.int64
        )  # (B, S, k)

    def _observe(self) -> np.ndarray:
        """The observation reset() and step() return, with a private copy kept for state(): a trainer asks for
        both at every step, and building the observation is most of the cost of either. The copy (a few
        hundred bytes) keeps state() right if the caller changes the returned array in place."""
        obs = self._observation()
        self._latest_observation = obs.copy()
        return obs

    def _observation(self) -> np.ndarray:
        """(B, N, obs_dim) float32: the subclass's raw features, demand history and shared customer demand,
        all divided by obs_scale, then the fraction of the episode left. Written into one new array
        rather than concatenated."""
        raw = self._raw_observation()  # (B, N, raw_dim) int
        obs = np.empty((self.n_envs, self.n_agents, self.obs_dim), dtype=np.float32)
        end = raw.shape[2]
        obs[:, :, :end] = raw
        if self.obs_demand_history:
            obs[:, :, end : end + self.obs_demand_history] = self.demand_history
            end += self.obs_demand_history
        if self.obs_shared_demand:  # the same customer-demand history for every agent (information sharing)
            width = self.n_streams * self.obs_shared_demand
            obs[:, :, end : end + width] = self.customer_history.reshape(self.n_envs, 1, width)
            end += width
        obs[:, :, :end] /= self.obs_scale  # float32 / float32: as each part converted and divided on its own
        if self.obs_time_left:
            obs[:, :, end] = 1.0 - self.t / self.episode_length
        return obs

    def _check_demand(self, demand: np.ndarray) -> np.ndarray:
        demand = np.asarray(demand)
        if demand.ndim == 2:
            demand = demand[:, :, None]
        expected = (self.n_envs, "T >= %d" % self.episode_length, self.n_streams)
        if demand.ndim != 3 or demand.shape[0] != self.n_envs or demand.shape[2] != self.n_streams:
            raise UserError(f"demand has shape {demand.shape} but must be (n_envs, T, streams) = {expected}")
        if demand.shape[1] < self.episode_length:
            raise UserError(
                f"demand covers {demand.shape[1]} periods but an episode has {self.episode_length}; "
                "give longer demand or lower env.episode_length"
            )
        if not np.issubdtype(demand.dtype, np.integer):
            if not np.all(np.mod(demand, 1) == 0):
                raise UserError("demand must be whole units (integers)")
        if (demand < 0).any():
            raise UserError("demand must not be negative")
        return np.ascontiguousarray(demand[:, : self.episode_length], dtype=np.int64)

    def check_actions(self, actions: np.ndarray) -> np.ndarray:
        """actions int (B, N, D) (or (B, N) when D = 1) within the action space -> int64 (B, N, D); anything else
        is a one-line UserError. Public so that wrappers (planner) check what a policy sent before acting on it."""
        actions = np.asarray(actions)
        n_dims = self.action_nvec.shape[1]
        if actions.ndim == 2 and n_dims == 1:
            actions = actions[:, :, None]
        if actions.shape != (self.n_envs, self.n_agents, n_dims):
            raise UserError(
                f"actions have shape {actions.shape} but must be (n_envs, n_agents, action dims) = "
                f"{(self.n_envs, self.n_agents, n_dims)}"
            )
        if not np.issubdtype(actions.dtype, np.integer):
            raise UserError(f"actions must be integers, got dtype {actions.dtype}")
        if actions.min() < 0 or (actions >= self.action_nvec).any():
            bad = np.argwhere((actions < 0) | (actions >= self.action_nvec))[0]
            raise UserError(
                f"action {int(actions[tuple(bad)])} of agent {self.agent_names[bad[1]]} (env {bad[0]}, dimension "
                f"{bad[2]}) is outside the action space 0..{int(self.action_nvec[bad[1], bad[2]]) - 1}"
            )
        return actions.astype(np.int64, copy=False)

    def _init_observation(self, config: EnvConfig, obs_scale: float) -> None:
        """The observation options (after ``graph`` is built): opt-in features, scale and obs_dim."""
        if config.obs_echelon_position and not self.graph.is_chain:
            raise UserError("env.obs_echelon_position is defined where the supply graph is a chain; set it to false")
        self.obs_inventory_position = config.obs_inventory_position
        self.obs_supplier_owed = config.obs_supplier_owed
        self.obs_echelon_position = config.obs_echelon_position
        self.obs_scale = obs_scale
        n_extra = int(config.obs_inventory_position) + int(config.obs_supplier_owed) + int(config.obs_echelon_position)
        self.obs_dim = 3 + self.n_slots + n_extra + self.n_shared_features

    def _raw_observation(self) -> np.ndarray:
        """Unscaled per-agent observation in units: on-hand, shortage, demand seen, pipeline slots, then the
        opt-in inventory position, units owed by the suppliers and echelon position.  (B, N, raw_dim)"""
        parts = [self.on_hand[..., None], self._observed_shortage()[..., None], self.demand_seen[..., None], self.pipeline]
        owed = self.supplier_owed()
        position = self.inventory_position(owed) if self.obs_inventory_position or self.obs_echelon_position else None
        if self.obs_inventory_position:
            parts.append(position[..., None])
        if self.obs_supplier_owed:
            parts.append(owed[..., None])
        if self.obs_echelon_position:
            parts.append(np.cumsum(position, axis=1)[..., None])  # echelon_position() from the position above
        return np.concatenate(parts, axis=2)  # (B, N, raw_dim)

    # ------------------------------------------------------------------ read API
    def inventory_position(self, supplier_owed: np.ndarray | None = None) -> np.ndarray:
        """On-hand - units owed to customers + pipeline + units owed by the suppliers (installation stock).  (B, N)

        supplier_owed: ``supplier_owed()`` if the caller has it already."""
        owed = self.supplier_owed() if supplier_owed is None else supplier_owed
        return self.on_hand - self.owed_to_customers() + self.pipeline.sum(axis=2) + owed

    def echelon_position(self) -> np.ndarray:
        """Echelon inventory position on a chain: the installation positions at and below each node summed (what
        a node owes its customer cancels what that customer is owed), i.e. all stock on hand and in transit at
        and below the node, minus what the retailer owes its customers, plus what the node's supplier owes.  (B, N)"""
        if not self.graph.is_chain:
            raise UserError("the echelon position is defined where the supply graph is a chain")
        return np.cumsum(self.inventory_position(), axis=1)

    # ------------------------------------------------------------------ to implement
    def owed_on_edges(self) -> np.ndarray:
        """Units each supplier edge's supplier still owes its customer.  (B, E)"""
        raise NotImplementedError

    def supplier_owed(self) -> np.ndarray:
        """Units each node's suppliers still owe it, summed over its suppliers.  (B, N)"""
        raise NotImplementedError

    def owed_to_customers(self) -> np.ndarray:
        """Units each node still owes its customers.  (B, N)"""
        raise NotImplementedError

    def _observed_shortage(self) -> np.ndarray:
        """The observation's second feature (B, N): the serial chain's backlog, the network's unmet units."""
        raise NotImplementedError

    def _reset_state(self) -> None:
        raise NotImplementedError

    def _advance(self, demand_t: np.ndarray, actions: np.ndarray) -> dict[str, Any]:
        """One period.  demand_t (B, S), actions (B, N, D).  Returns info with at least "cost" (B, N)."""
        raise NotImplementedError
