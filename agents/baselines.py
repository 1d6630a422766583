"""Classic inventory policies on the batched environments, and a batched tuner for their parameters.

Every policy has the interface evaluation uses for any policy (``BatchedPolicy``): ``reset(env)`` at
the start of an episode batch, then ``act(obs, env) -> actions int (B, N, D)`` each period. Baselines
read the env's structured state (on-hand, backlog, pipeline, units owed) at the end of the previous
period; a trained policy reads only ``obs`` (``LearnedPolicy`` wraps one).

Parameters are per environment: a policy built with ``params`` of shape ``(B, P)`` runs B different
parameter sets side by side, which is what makes tuning fast (``tune`` simulates every candidate of a
coordinate on the same demand paths in one batch).

Serial chain (stage 0 = retailer), with IP_i = on-hand_i - backlog_i + pipeline_i + owed to i by i+1
(``env.inventory_position()``) and the echelon position EIP_i = sum_{j <= i} IP_j:

* ``installation_base_stock``: q_i = clip(S_i - IP_i, 0, cap)
* ``echelon_base_stock``: q_i = clip(S_i - EIP_i, 0, cap) (Clark-Scarf form; optimal without order
  caps for a serial chain with backlogging and i.i.d. demand)
* ``s_S``: q_i = clip(S_i - IP_i, 0, cap) if IP_i <= s_i else 0 (for fixed order costs)
* ``forecast_echelon``: echelon base-stock whose levels follow the demand forecast:
  S_i(t) = mu(t) * (L_0 + ... + L_i + 1) + safety_i, mu(t) = alpha d(t-1) + (1 - alpha) mu(t-1)
* ``forecast_base_stock``: installation base-stock with levels mu_i(t) * (L_i + 1) + safety_i, mu_i
  the smoothed demand stage i itself sees
* ``pass_through``: q_i = the demand stage i saw last period
* ``constant_order``: q_i = c_i

Forecast-proportional levels and POUT (proportional order-up-to, Disney & Towill 2003), one class
(``ProportionalOrderUpTo``): q_i = clip(round(mu + (S_i - position_i - mu) / T_i), 0, cap), mu an
exponentially smoothed demand, T_i >= 1 a smoothing time (T_i = 1 is base-stock):

* ``forecast_echelon_proportional``: echelon base-stock with S_i = k_i mu(t), mu the smoothed customer demand
* ``forecast_installation_proportional``: installation base-stock with S_i = k_i mu_i(t), mu_i the smoothed
  demand stage i itself sees
* ``pout_echelon`` / ``pout_echelon_static``: POUT on EIP_i, levels k_i mu(t) / constant S_i
* ``pout_installation`` / ``pout_installation_static``: POUT on IP_i, levels k_i mu_i(t) / constant S_i

Network: ``installation_base_stock`` becomes a multi-index (dual-index for two suppliers) policy: a
node's suppliers are served fastest first, each with its own level S_{i,e} on the position that
counts only the pipeline arriving within that supplier's lead time (plus what was just ordered from
faster ones); ``forecast_base_stock`` is the same with levels that follow each node's smoothed
demand; ``forecast_installation_proportional`` with levels k_{i,e} mu_i(t); ``pout_installation`` adds
POUT smoothing per node (each supplier's gap divided by T_i, the forecast fed forward to the node's
slowest supplier); ``pass_through`` orders last period's demand from the cheapest supplier first;
``constant_order`` orders a constant per supplier.
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol

import numpy as np

from utils.config import EnvConfig, ExperimentConfig
from utils.errors import UserError
from utils.metrics import Rollout


# ----------------------------------------------------------------------------------------------
# Configuration of the baselines (loaded from configs/baselines.yaml and --set baselines.key=value)
# ----------------------------------------------------------------------------------------------
@dataclass
class BaselineConfig:
    """How baselines are tuned, or their parameters when given explicitly (an empty list means: tune it)."""

    tune_paths: int = 100  # demand paths from the training generator the tuner simulates
    tune_seed: int = 777_000  # seed of those paths (distinct from training, validation and test seeds)
    in_sample: bool = False  # tune on the evaluation files themselves (the paper's protocol); rows get labelled in-sample
    tune_dir: str = ""  # tune on the files of this folder instead of the training generator (rows name the folder)
    max_sweeps: int = 40  # cap on coordinate-search sweeps over all parameters (each sweep is a few batched runs)
    installation_levels: list[float] = field(default_factory=list)  # S_i per stage (serial) or per node and supplier (network)
    echelon_levels: list[float] = field(default_factory=list)  # echelon S_i per stage (serial only)
    reorder_points: list[float] = field(default_factory=list)  # s_i of the (s, S) policy per stage (serial only)
    order_up_to: list[float] = field(default_factory=list)  # S_i of the (s, S) policy per stage (serial only)
    constant_orders: list[float] = field(default_factory=list)  # units per period per stage (serial) or per node and supplier
    forecast_alpha: Optional[float] = None  # smoothing constant of the forecast-adaptive policy (None = tune)
    forecast_safety: list[float] = field(default_factory=list)  # safety term per stage of the forecast-adaptive policy
    forecast_base_stock: list[float] = field(default_factory=list)  # alpha, starting forecast mu_0, then safety per stage (serial) or per node and supplier
    # the forecast-proportional and POUT families: the full parameter vector, in the order of the family's docstring
    # (serial: alpha, one level per stage, then for pout_* one smoothing time T >= 1 per stage; network: alpha, mu_0,
    # one level per node and supplier fastest first, then for pout_* one T per node)
    forecast_echelon_proportional: list[float] = field(default_factory=list)  # alpha, k per stage: S_i = k_i * smoothed customer demand
    forecast_installation_proportional: list[float] = field(default_factory=list)  # alpha, [mu_0,] k per stage / node and supplier: S = k * own smoothed demand
    pout_echelon: list[float] = field(default_factory=list)  # alpha, k per stage, T per stage (echelon position, customer forecast)
    pout_echelon_static: list[float] = field(default_factory=list)  # alpha, S per stage, T per stage (constant echelon levels)
    pout_installation: list[float] = field(default_factory=list)  # alpha, [mu_0,] k per stage / node and supplier, T per stage / node
    pout_installation_static: list[float] = field(default_factory=list)  # alpha, [mu_0,] S per stage / node and supplier, T per stage / node


# ----------------------------------------------------------------------------------------------
# Interface and the rollout every evaluation uses
# ----------------------------------------------------------------------------------------------
class BatchedPolicy(Protocol):
    """Any policy evaluation can run: batched observations / env state in, integer orders out."""

    name: str

    def reset(self, env: Any) -> None:
        """Called after ``env.reset``: clear any memory."""

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        """obs (B, N, obs_dim) and the env (state at the end of the last period) -> actions int (B, N, D)."""


class LearnedPolicy:
    """A trained policy (``agents.happo_agent.load_policy``) behind the baseline interface.

    It acts greedily (argmax), as training selects models; ``deterministic=False`` samples each agent's
    distribution instead (from the policy's own seeded generator), to see what greedy acting costs."""

    def __init__(self, policy: Any, name: str = "happo", deterministic: bool = True) -> None:
        self.policy = policy
        self.name = name
        self.deterministic = deterministic

    def reset(self, env: Any) -> None:
        pass

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        return self.policy.act(obs, deterministic=self.deterministic)


def rollout(policy: BatchedPolicy, env: Any, demand: np.ndarray, seed: int | None = None, record: bool = True):
    """Run one episode per demand path, all in one batch.

    demand int (B, T, S) or (B, T) with B = env.n_envs. seed re-seeds the env's own draws (shipping loss).
    Returns a ``utils.metrics.Rollout`` when ``record``, else only the cost per episode and agent (B, N)
    (what tuning needs, without keeping T copies of the state).
    """
    obs, _ = env.reset(seed=seed, demand=demand)
    policy.reset(env)
    B, N, T = env.n_envs, env.n_agents, env.episode_length
    if not record:
        total = np.zeros((B, N))
        for _ in range(T):
            obs, _, _, _, info = env.step(policy.act(obs, env))
            total += info["cost"]
        return total  # (B, N)
    cost, orders, seen, unmet, on_hand = (np.zeros((B, T, N)) for _ in range(5))
    for t in range(T):
        actions = np.asarray(policy.act(obs, env))
        obs, _, _, _, info = env.step(actions)
        cost[:, t] = info["cost"]
        orders[:, t] = actions.reshape(B, N, -1).sum(axis=2)
        seen[:, t] = env.demand_seen
        unmet[:, t] = info["unmet"]
        on_hand[:, t] = env.on_hand
    customer = env.demand.astype(np.float64)  # (B, T, S)
    return Rollout(cost=cost, orders=orders, demand_seen=seen, unmet=unmet, on_hand=on_hand, customer_demand=customer)


# ----------------------------------------------------------------------------------------------
# Parameter spaces
# ----------------------------------------------------------------------------------------------
@dataclass
class ParamSpace:
    """The values each parameter may take, in increasing order (the tuner moves along these indices)."""

    names: list[str]  # one per parameter, e.g. "S[retailer]"
    values: list[np.ndarray]  # allowed values per parameter, sorted
    start: np.ndarray  # (P,) starting values (a textbook guess); snapped to the nearest allowed value

    def index_of(self, x: np.ndarray) -> np.ndarray:
        """Nearest allowed-value index of each parameter.  (P,) -> (P,) int."""
        return np.array([int(np.argmin(np.abs(v - xi))) for v, xi in zip(self.values, x)])

    def value_of(self, idx: np.ndarray) -> np.ndarray:
        """Values of index vectors.  (K, P) int -> (K, P) float."""
        return np.stack([self.values[p][idx[:, p]] for p in range(len(self.values))], axis=1)


@dataclass
class DemandSummary:
    """What a parameter space needs to know about demand: its per-period mean and a high value, per stream."""

    mean: float  # mean customer demand per period and stream
    high: float  # 99th percentile of customer demand per period and stream

    @staticmethod
    def of(demand: np.ndarray) -> "DemandSummary":
        return DemandSummary(float(demand.mean()), float(np.percentile(demand, 99)))


def _level_grid(high: float) -> np.ndarray:
    return np.arange(0, int(math.ceil(high)) + 1, dtype=np.float64)


# ----------------------------------------------------------------------------------------------
# Serial-chain policies
# ----------------------------------------------------------------------------------------------
def is_serial(env: Any) -> bool:
    """A serial chain env (it has per-stage backlogs and installation positions); otherwise a network."""
    return hasattr(env, "backlog") and hasattr(env, "inventory_position")


def _require_serial(env: Any, name: str) -> None:
    if not is_serial(env):
        raise UserError(f"baseline '{name}' is defined for the serial chain only; use installation_base_stock on a network")


def _cumulative_coverage(env: Any) -> np.ndarray:
    """Periods an echelon order-up-to level must cover: sum of lead times at and below the stage, plus one.  (N,)"""
    return np.cumsum(env.lead_time) + 1.0


class _ParamPolicy:
    """Shared plumbing: parameters (P,) or (B, P) broadcast to the batch."""

    name = ""

    def __init__(self, params: np.ndarray) -> None:
        self.params = np.asarray(params, dtype=np.float64)

    def batch_params(self, B: int) -> np.ndarray:
        return np.broadcast_to(self.params, (B, self.params.shape[-1]))  # (B, P)

    def reset(self, env: Any) -> None:
        pass

    @staticmethod
    def canonical(params: np.ndarray) -> np.ndarray:
        """The same policy written the way a reader expects (see SSPolicy).  (P,) -> (P,)"""
        return params

    @staticmethod
    def order_up_to(level: np.ndarray, position: np.ndarray, cap: np.ndarray | int) -> np.ndarray:
        """clip(level - position, 0, cap) as whole units."""
        return np.clip(np.rint(level - position), 0, cap).astype(np.int64)


class InstallationBaseStock(_ParamPolicy):
    """Order up to S_i on the stage's own inventory position (serial); multi-index on a network."""

    name = "installation_base_stock"

    @staticmethod
    def param_space(env: Any, demand: DemandSummary) -> ParamSpace:
        if is_serial(env):
            L = env.lead_time.astype(np.float64)
            names = [f"S[{n}]" for n in env.agent_names]
            values = [_level_grid(demand.high * (l + 1) + env.order_cap) for l in L]
            return ParamSpace(names, values, demand.mean * (L + 1))
        names, values, start = [], [], []
        for i, e, d in _network_dims(env):
            L = int(env.edge_lead[e])
            cap = int(env.action_nvec[i, d]) - 1
            names.append(f"S[{env.agent_names[i]}<-{_supplier_name(env, e)}]")
            values.append(_level_grid(demand.high * (L + 1) + cap))
            start.append(demand.mean * (L + 1))
        return ParamSpace(names, values, np.array(start))

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        if not is_serial(env):
            return _multi_index_orders(env, self.batch_params(env.n_envs))
        S = self.batch_params(env.n_envs)  # (B, N)
        return self.order_up_to(S, env.inventory_position(), env.order_cap)[:, :, None]


class EchelonBaseStock(_ParamPolicy):
    """Order up to S_i on the echelon inventory position of stage i (serial)."""

    name = "echelon_base_stock"

    @staticmethod
    def param_space(env: Any, demand: DemandSummary) -> ParamSpace:
        _require_serial(env, EchelonBaseStock.name)
        cover = _cumulative_coverage(env)
        values = [_level_grid(demand.high * c + env.order_cap) for c in cover]
        return ParamSpace([f"S_echelon[{n}]" for n in env.agent_names], values, demand.mean * cover)

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        _require_serial(env, self.name)
        S = self.batch_params(env.n_envs)  # (B, N)
        return self.order_up_to(S, env.echelon_position(), env.order_cap)[:, :, None]


class SSPolicy(_ParamPolicy):
    """(s, S): when the installation position is at or below s_i, order up to S_i (serial).

    params: s_0..s_{N-1}, S_0..S_{N-1}; an S below s + 1 is read as s + 1 so every candidate is a policy.
    """

    name = "s_S"

    @staticmethod
    def param_space(env: Any, demand: DemandSummary) -> ParamSpace:
        _require_serial(env, SSPolicy.name)
        L = env.lead_time.astype(np.float64)
        grids = [_level_grid(demand.high * (l + 1) + 2 * env.order_cap) for l in L]
        names = [f"s[{n}]" for n in env.agent_names] + [f"S[{n}]" for n in env.agent_names]
        base = demand.mean * (L + 1)
        return ParamSpace(names, grids + grids, np.concatenate([base - 1, base + demand.mean]))

    @staticmethod
    def canonical(params: np.ndarray) -> np.ndarray:
        """Report S as the level actually used, max(S, s + 1)."""
        n = len(params) // 2
        return np.concatenate([params[:n], np.maximum(params[n:], params[:n] + 1)])

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        _require_serial(env, self.name)
        N = env.n_agents
        p = self.batch_params(env.n_envs)
        s, S = p[:, :N], np.maximum(p[:, N:], p[:, :N] + 1)
        position = env.inventory_position()
        q = self.order_up_to(S, position, env.order_cap)
        return np.where(position <= s, q, 0)[:, :, None]


class ForecastEchelonBaseStock(_ParamPolicy):
    """Echelon base-stock with levels mu(t) * (cumulative lead time + 1) + safety_i (serial).

    mu starts at the demand the env shows at reset (the paper's observation shows the initial pipeline
    level there) and is smoothed with each period's customer demand. params: alpha, safety_0..safety_{N-1}.
    """

    name = "forecast_echelon"

    @staticmethod
    def param_space(env: Any, demand: DemandSummary) -> ParamSpace:
        _require_serial(env, ForecastEchelonBaseStock.name)
        alphas = ForecastEchelonBaseStock.param_space_alphas()
        cover = _cumulative_coverage(env)
        half = np.ceil(demand.high * cover / 2)
        safety = [np.arange(-h, h + env.order_cap + 1, dtype=np.float64) for h in half]
        start = np.concatenate([[0.1], np.sqrt(cover * max(demand.mean, 1.0))])
        return ParamSpace(["alpha"] + [f"safety[{n}]" for n in env.agent_names], [alphas] + safety, start)

    @staticmethod
    def param_space_alphas() -> np.ndarray:
        """Smoothing constants searched; alpha = 0 keeps the starting forecast, so the static policy is one point."""
        return np.concatenate([[0.0, 0.01, 0.02], np.round(np.arange(0.05, 1.0001, 0.05), 2)])

    def reset(self, env: Any) -> None:
        self.mu = env.demand_seen[:, 0].astype(np.float64)  # (B,)
        self.t_seen = 0

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        _require_serial(env, self.name)
        p = self.batch_params(env.n_envs)
        alpha, safety = p[:, 0], p[:, 1:]
        if env.t > self.t_seen:  # a new period's customer demand is known: update the forecast once
            self.mu = alpha * env.demand_seen[:, 0] + (1 - alpha) * self.mu
            self.t_seen = env.t
        level = self.mu[:, None] * _cumulative_coverage(env)[None] + safety  # (B, N)
        return self.order_up_to(level, env.echelon_position(), env.order_cap)[:, :, None]


class ForecastBaseStock(_ParamPolicy):
    """Installation base-stock (multi-index on a network) whose levels follow each agent's own demand forecast.

    Agent i smooths the demand it sees, mu_i(t) = alpha r_i(t-1) + (1 - alpha) mu_i(t-1), from a tuned
    starting forecast mu_0 (the network shows no demand at reset), and orders up to mu_i(t) * (L + 1) +
    safety on the position of ``installation_base_stock`` (L: the stage's lead time, or the supplier edge's
    on a network). params: alpha, mu_0, then one safety term per stage (serial) or per node and supplier.
    """

    name = "forecast_base_stock"

    @staticmethod
    def param_space(env: Any, demand: DemandSummary) -> ParamSpace:
        base = InstallationBaseStock.param_space(env, demand)
        alphas = ForecastEchelonBaseStock.param_space_alphas()
        mu0 = _level_grid(demand.high)
        # a safety grid as wide as the level grid, centred on 0
        safety = [np.arange(-math.ceil(len(v) / 2), math.ceil(len(v) / 2) + 1, dtype=np.float64) for v in base.values]
        names = ["alpha", "mu_0"] + [n.replace("S[", "safety[") for n in base.names]
        start = np.concatenate([[0.1, demand.mean], np.sqrt(np.maximum(base.start, 1.0))])
        return ParamSpace(names, [alphas, mu0] + safety, start)

    def reset(self, env: Any) -> None:
        mu0 = self.batch_params(env.n_envs)[:, 1]
        self.mu = np.repeat(mu0[:, None], env.n_agents, axis=1)  # (B, N)
        self.t_seen = 0

    def _update(self, env: Any, alpha: np.ndarray) -> None:
        if env.t > self.t_seen:  # a new period's demand is known: update the forecast once
            self.mu = alpha[:, None] * env.demand_seen + (1 - alpha[:, None]) * self.mu
            self.t_seen = env.t

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        p = self.batch_params(env.n_envs)
        alpha, safety = p[:, 0], p[:, 2:]
        self._update(env, alpha)
        if is_serial(env):
            level = self.mu * (env.lead_time + 1.0)[None] + safety  # (B, N)
            return self.order_up_to(level, env.inventory_position(), env.order_cap)[:, :, None]
        lay = network_layout(env)
        return _multi_index_orders(env, self.mu[:, lay.node] * (lay.lead + 1.0)[None] + safety)


class ProportionalOrderUpTo(_ParamPolicy):
    """Forecast-driven order-up-to levels with proportional order smoothing (POUT, Disney & Towill 2003).

    With a forecast mu (exponential smoothing, mu(t) = alpha d(t-1) + (1 - alpha) mu(t-1), updated once per
    period with the demand of the period just ended, never the current one), a level S_i and a position:

        q_i(t) = clip(round(mu(t) + (S_i(t) - position_i(t) - mu(t)) / T_i), 0, cap)

    T_i >= 1 is the smoothing time: T_i = 1 is order-up-to (base-stock) exactly; a larger T_i closes only
    1/T_i of the gap between the base-stock order and the forecast each period, which damps the bullwhip a
    high level creates and is why it beats base-stock when demand is noisy or non-stationary. The level is
    either static (S_i a constant) or proportional to the forecast (S_i(t) = k_i mu(t)), so that it follows
    a wandering demand level with one dimensionless factor per stage (cover plus safety in periods).

    Subclasses pick the position and the demand forecast (class attributes):

    * echelon (serial only): the echelon position EIP_i and the smoothed CUSTOMER demand, the demand of
      every echelon (Clark-Scarf view; the echelon position already uses shared information).
    * installation: the stage's own position IP_i and the smoothed demand the stage ITSELF sees (customer
      demand at the retailer, the downstream stage's orders above it): local information only, the classic
      installation reading. On a network, the multi-index positions of ``installation_base_stock`` per node
      and supplier (fastest first), levels S_{i,e}(t) = k_{i,e} mu_i(t) from the node's own smoothed demand;
      every supplier's gap is divided by the node's T_i and the feed-forward mu_i goes to the node's slowest
      supplier (the one whose position is the node's whole inventory position), so a single-supplier node is
      serial installation POUT and T_i = 1 is the multi-index base-stock.

    Starting forecast mu(0): the demand the env shows at reset on the serial chain (the initial pipeline
    level, as ``forecast_echelon``); a network shows no demand at reset, so there mu_0 is a parameter.

    params (P,) or (B, P), in this order:
      serial:  alpha, level_0..level_{N-1}, [T_0..T_{N-1}]                 (level = k_i or S_i)
      network: alpha, mu_0, level per node and supplier (fastest first), [T per node]
    (the T block only for the smoothing families; without it T_i = 1, i.e. order-up-to).
    """

    name = ""
    echelon = False  # echelon position and customer-demand forecast (else installation / own demand)
    proportional = True  # S_i = k_i * mu (else S_i static)
    smoothed = True  # has the T_i block (else T_i = 1: order-up-to)

    #: smoothing times searched (T = 1 is base-stock); the retailer's tuned T on Merton demand is about 10
    T_GRID = np.array([1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0])

    def __init__(self, params: np.ndarray) -> None:
        super().__init__(params)
        p = self.params.reshape(-1, self.params.shape[-1]) if self.params.size else self.params.reshape(1, 0)
        if p.shape[1] and not ((p[:, 0] >= 0) & (p[:, 0] <= 1)).all():
            raise UserError(f"baseline '{self.name}': the smoothing constant alpha (first parameter) must be in [0, 1]")
        self.mu: np.ndarray = np.zeros(0)
        self.t_seen = 0

    # ---------------------------------------------------------------- layout
    @classmethod
    def _layout(cls, env: Any) -> tuple[int, int, int]:
        """(number of levels, number of smoothing times, offset of the levels) for this env."""
        if is_serial(env):
            return env.n_agents, env.n_agents if cls.smoothed else 0, 1
        return len(network_layout(env).node), env.n_agents if cls.smoothed else 0, 2

    @classmethod
    def _split(cls, params: np.ndarray, env: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """alpha (B,), levels (B, L), smoothing times (B, N) (ones when not smoothed) from params (B, P)."""
        n_levels, n_T, off = cls._layout(env)
        if params.shape[1] != off + n_levels + n_T:
            raise UserError(
                f"baseline '{cls.name}' needs {off + n_levels + n_T} parameters on this env but got {params.shape[1]}; "
                "see its docstring for the order"
            )
        T = params[:, off + n_levels:] if n_T else np.ones((params.shape[0], env.n_agents))
        if (T < 1).any():
            raise UserError(f"baseline '{cls.name}': every smoothing time T_i must be at least 1 (T = 1 is base-stock)")
        return params[:, 0], params[:, off:off + n_levels], T

    @classmethod
    def param_space(cls, env: Any, demand: DemandSummary) -> ParamSpace:
        if cls.echelon:
            _require_serial(env, cls.name)
        alphas = ForecastEchelonBaseStock.param_space_alphas()
        # 99th percentile over mean demand, kept within [1.5, 4] so that the grids stay searchable
        ratio = min(4.0, max(1.5, demand.high / demand.mean)) if demand.mean > 0 else 1.5
        if is_serial(env):
            cover = _cumulative_coverage(env) if cls.echelon else env.lead_time + 1.0  # (N,) periods a level covers
            static = (EchelonBaseStock if cls.echelon else InstallationBaseStock).param_space(env, demand)
            suffix = [f"[{n}]" for n in env.agent_names]
            head_names, head_values, head_start = ["alpha"], [alphas], [0.2]
        else:
            lay = network_layout(env)
            cover = lay.lead + 1.0  # (P,)
            static = InstallationBaseStock.param_space(env, demand)
            suffix = [n[n.index("["):] for n in static.names]
            head_names, head_values, head_start = ["alpha", "mu_0"], [alphas, _level_grid(demand.high)], [0.2, demand.mean]
        if cls.proportional:
            # k up to the cover times the high-to-mean demand ratio (a level that covers the 99th percentile
            # every period), in steps of a quarter period
            names = [f"k{s}" for s in suffix]
            values = [np.arange(0.0, math.ceil(4 * c * ratio) / 4 + 0.125, 0.25) for c in cover]
            level_start = cover
        else:
            names, values, level_start = static.names, static.values, static.start
        names, values, start = head_names + names, head_values + values, list(head_start) + list(level_start)
        if cls.smoothed:
            names += [f"T[{n}]" for n in env.agent_names]
            values += [cls.T_GRID] * env.n_agents
            start += [2.0] * env.n_agents
        return ParamSpace(names, values, np.array(start, dtype=np.float64))

    # ---------------------------------------------------------------- forecast
    def reset(self, env: Any) -> None:
        if is_serial(env):
            seen = env.demand_seen.astype(np.float64)  # (B, N) what the env shows at reset
            self.mu = seen[:, :1].copy() if self.echelon else seen.copy()  # (B, 1) customer or (B, N) own
        else:
            mu0 = self.batch_params(env.n_envs)[:, 1]
            self.mu = np.repeat(mu0[:, None], env.n_agents, axis=1)  # (B, N)
        self.t_seen = 0

    def _update_forecast(self, env: Any, alpha: np.ndarray) -> None:
        """Smooth in the demand of the period that just ended (env.demand_seen), once per period."""
        if env.t > self.t_seen:
            seen = env.demand_seen[:, :1] if self.echelon else env.demand_seen  # (B, 1) or (B, N)
            self.mu = alpha[:, None] * seen + (1 - alpha[:, None]) * self.mu
            self.t_seen = env.t

    # ---------------------------------------------------------------- orders
    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        if self.echelon:
            _require_serial(env, self.name)
        alpha, levels, T = self._split(self.batch_params(env.n_envs), env)  # (B,), (B, L), (B, N)
        self._update_forecast(env, alpha)
        if not is_serial(env):
            lay = network_layout(env)
            S = levels * self.mu[:, lay.node] if self.proportional else levels  # (B, P)
            return _multi_index_orders(env, S, feed_forward=self.mu, smoothing=T)
        S = levels * self.mu if self.proportional else levels  # (B, N)
        position = env.echelon_position() if self.echelon else env.inventory_position()  # (B, N)
        order = self.mu + (S - position - self.mu) / T  # (B, N)
        return np.clip(np.rint(order), 0, env.order_cap).astype(np.int64)[:, :, None]


class ForecastEchelonProportional(ProportionalOrderUpTo):
    """Echelon base-stock with levels k_i * mu(t), mu the smoothed customer demand (serial).  params: alpha, k_i."""

    name = "forecast_echelon_proportional"
    echelon, proportional, smoothed = True, True, False


class ForecastInstallationProportional(ProportionalOrderUpTo):
    """Installation base-stock with levels k_i * mu_i(t), mu_i the smoothed demand stage i sees (multi-index on a
    network).  params: alpha, k_i (serial); alpha, mu_0, k per node and supplier (network)."""

    name = "forecast_installation_proportional"
    echelon, proportional, smoothed = False, True, False


class POUTEchelonStatic(ProportionalOrderUpTo):
    """POUT on the echelon position with constant levels S_i (serial).  params: alpha, S_i, T_i."""

    name = "pout_echelon_static"
    echelon, proportional, smoothed = True, False, True


class POUTEchelon(ProportionalOrderUpTo):
    """POUT on the echelon position with levels k_i * mu(t) (serial).  params: alpha, k_i, T_i."""

    name = "pout_echelon"
    echelon, proportional, smoothed = True, True, True


class POUTInstallationStatic(ProportionalOrderUpTo):
    """POUT on the installation position with constant levels S_i (multi-index on a network).
    params: alpha, S_i, T_i (serial); alpha, mu_0, S per node and supplier, T per node (network)."""

    name = "pout_installation_static"
    echelon, proportional, smoothed = False, False, True


class POUTInstallation(ProportionalOrderUpTo):
    """POUT on the installation position with levels k_i * mu_i(t) (multi-index on a network).
    params: alpha, k_i, T_i (serial); alpha, mu_0, k per node and supplier, T per node (network)."""

    name = "pout_installation"
    echelon, proportional, smoothed = False, True, True


class PassThrough(_ParamPolicy):
    """Order what was demanded of the agent last period (the first period: what the env shows at reset)."""

    name = "pass_through"

    def __init__(self, params: np.ndarray | None = None) -> None:
        super().__init__(np.zeros(0) if params is None else params)

    @staticmethod
    def param_space(env: Any, demand: DemandSummary) -> ParamSpace:
        return ParamSpace([], [], np.zeros(0))

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        if is_serial(env):
            return np.clip(env.demand_seen, 0, env.order_cap)[:, :, None].astype(np.int64)
        # network: fill the cheapest supplier first, up to its cap, then the next
        actions = np.zeros((env.n_envs,) + env.action_nvec.shape, dtype=np.int64)
        left = env.demand_seen.astype(np.int64).copy()  # (B, N)
        for i, e, d in _network_dims(env, by="cost"):
            q = np.minimum(left[:, i], env.action_nvec[i, d] - 1)
            actions[:, i, d] = q
            left[:, i] -= q
        return actions


class ConstantOrder(_ParamPolicy):
    """Order a constant quantity every period (per stage, or per node and supplier)."""

    name = "constant_order"

    @staticmethod
    def param_space(env: Any, demand: DemandSummary) -> ParamSpace:
        if is_serial(env):
            names = [f"q[{n}]" for n in env.agent_names]
            return ParamSpace(names, [np.arange(env.order_cap + 1.0)] * env.n_agents, np.full(env.n_agents, demand.mean))
        dims = _network_dims(env)
        names = [f"q[{env.agent_names[i]}<-{_supplier_name(env, e)}]" for i, e, d in dims]
        values = [np.arange(float(env.action_nvec[i, d])) for i, e, d in dims]
        per_node = {i: sum(1 for j, _, _ in dims if j == i) for i, _, _ in dims}
        return ParamSpace(names, values, np.array([demand.mean / per_node[i] for i, _, _ in dims]))

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        q = np.rint(self.batch_params(env.n_envs)).astype(np.int64)  # (B, P)
        if is_serial(env):
            return np.clip(q, 0, env.order_cap)[:, :, None]
        lay = network_layout(env)
        actions = np.zeros((env.n_envs,) + env.action_nvec.shape, dtype=np.int64)
        actions[:, lay.node, lay.dim] = np.clip(q, 0, lay.cap)
        return actions


# ----------------------------------------------------------------------------------------------
# Network helpers
# ----------------------------------------------------------------------------------------------
def _supplier_name(env: Any, e: int) -> str:
    s = int(env.edge_supplier[e])
    return env.agent_names[s] if s >= 0 else f"outside(L={int(env.edge_lead[e])})"


def _network_dims(env: Any, by: str = "lead") -> list[tuple[int, int, int]]:
    """(node, edge, action dimension) of every real action dimension; per node ordered by edge lead time
    (fastest first, the multi-index order) or by shipping cost (cheapest first)."""
    out = []
    for i, edges in enumerate(env.in_edges):
        if by == "lead":
            key = lambda e: (int(env.edge_lead[e]), e)  # noqa: E731
        else:
            key = lambda e: (float(env.ship_cost_matrix[e, i]), e)  # noqa: E731
        out.extend((i, e, int(env.edge_dim[e])) for e in sorted(edges, key=key))
    return out


@dataclass
class NetworkLayout:
    """Index arrays of a network's action dimensions in multi-index order, built once per env."""

    node: np.ndarray  # (P,) node of each real action dimension
    edge: np.ndarray  # (P,) its supply edge
    dim: np.ndarray  # (P,) its action dimension
    lead: np.ndarray  # (P,) its edge's lead time
    cap: np.ndarray  # (P,) largest order on it
    rank: np.ndarray  # (P,) position among the node's suppliers, fastest first
    upto: np.ndarray  # (P, P) 1 where p' is a supplier of the same node at or before p in that order
    slowest: np.ndarray  # (P,) bool: the node's last supplier in that order (its position is the node's whole position)


_LAYOUTS: "weakref.WeakKeyDictionary[Any, NetworkLayout]" = weakref.WeakKeyDictionary()


def network_layout(env: Any) -> NetworkLayout:
    """The (cached) layout of a network env."""
    layout = _LAYOUTS.get(env)
    if layout is None:
        dims = _network_dims(env)
        node, edge, dim = (np.array([x[k] for x in dims], dtype=np.int64) for k in range(3))
        rank = np.array([sum(1 for j, _, _ in dims[:p] if j == i) for p, (i, _, _) in enumerate(dims)])
        upto = ((node[:, None] == node[None, :]) & (rank[:, None] <= rank[None, :])).astype(np.float64)
        slowest = rank == np.array([rank[node == i].max() for i in node])
        layout = NetworkLayout(node, edge, dim, env.edge_lead[edge], env.action_nvec[node, dim] - 1, rank, upto, slowest)
        _LAYOUTS[env] = layout
    return layout


def _multi_index_orders(
    env: Any, levels: np.ndarray, feed_forward: np.ndarray | None = None, smoothing: np.ndarray | None = None
) -> np.ndarray:
    """Multi-index base-stock on a network.  levels (B, P) in ``_network_dims`` order -> actions (B, N, D).

    For supplier e of node i (fastest first): position = on-hand - owed to customers + pipeline arriving
    within L_e periods + units owed on this or faster edges + what was just ordered from faster ones;
    order clip(S_{i,e} - position, 0, cap).

    POUT form (``smoothing`` T (B, N) per node, ``feed_forward`` mu (B, N) per node): the gap is closed at
    1/T_i per period around the forecast, order clip(f + (S_{i,e} - position - f) / T_i, 0, cap) with f = mu_i
    on the node's slowest supplier and 0 on faster ones (T_i = 1 gives the plain orders above).
    """
    lay = network_layout(env)
    arriving = np.cumsum(env.pipeline, axis=2)[:, lay.node, lay.lead - 1]  # (B, P) pipeline within L_e
    owed = env.owed_edge[:, lay.edge] @ lay.upto  # (B, P) owed on this or faster edges of the node
    position = (env.on_hand - env.owed_to_customers())[:, lay.node] + arriving + owed
    q = np.zeros(levels.shape, dtype=np.int64)  # (B, P)
    placed = np.zeros((env.n_envs, env.n_agents))  # (B, N) ordered so far this period from faster suppliers
    for r in range(int(lay.rank.max()) + 1):  # a node appears once per rank, so the indexed add is safe
        sel = np.flatnonzero(lay.rank == r)
        gap = levels[:, sel] - position[:, sel] - placed[:, lay.node[sel]]  # (B, |sel|)
        if smoothing is not None:
            f = np.where(lay.slowest[sel], feed_forward[:, lay.node[sel]], 0.0)  # (B, |sel|)
            gap = f + (gap - f) / smoothing[:, lay.node[sel]]
        q[:, sel] = np.clip(np.rint(gap), 0, lay.cap[sel])
        placed[:, lay.node[sel]] += q[:, sel]
    actions = np.zeros((env.n_envs,) + env.action_nvec.shape, dtype=np.int64)
    actions[:, lay.node, lay.dim] = q
    return actions


# ----------------------------------------------------------------------------------------------
# Registry, explicit parameters and the tuner
# ----------------------------------------------------------------------------------------------
POLICIES: dict[str, type] = {
    cls.name: cls
    for cls in (
        InstallationBaseStock, EchelonBaseStock, SSPolicy, ForecastEchelonBaseStock, ForecastBaseStock,
        ForecastEchelonProportional, ForecastInstallationProportional, POUTEchelonStatic, POUTEchelon,
        POUTInstallationStatic, POUTInstallation, PassThrough, ConstantOrder,
    )
}

#: baselines that exist on a network (the others need a chain's echelon structure)
NETWORK_POLICIES = (
    "installation_base_stock", "forecast_base_stock", "forecast_installation_proportional", "pout_installation",
    "pass_through", "constant_order",
)


def policy_names(kind: str) -> list[str]:
    """The baselines defined for an env kind ('serial' or 'network')."""
    return list(POLICIES) if kind == "serial" else list(NETWORK_POLICIES)


def make_baseline(name: str, params: np.ndarray | None = None) -> BatchedPolicy:
    """A baseline by name with parameters (P,) or (B, P)."""
    if name not in POLICIES:
        raise UserError(f"unknown baseline '{name}'; choose one of {', '.join(POLICIES)}")
    return POLICIES[name](np.zeros(0) if params is None else params)


def explicit_params(name: str, config: BaselineConfig, n_params: int) -> np.ndarray | None:
    """The parameters given in the baseline config for `name`, or None when they are to be tuned."""
    given = {
        "installation_base_stock": config.installation_levels,
        "echelon_base_stock": config.echelon_levels,
        "s_S": config.reorder_points + config.order_up_to if (config.reorder_points or config.order_up_to) else [],
        "constant_order": config.constant_orders,
        "forecast_echelon": ([] if config.forecast_alpha is None else [config.forecast_alpha]) + config.forecast_safety,
        "forecast_base_stock": config.forecast_base_stock,
        "forecast_echelon_proportional": config.forecast_echelon_proportional,
        "forecast_installation_proportional": config.forecast_installation_proportional,
        "pout_echelon": config.pout_echelon,
        "pout_echelon_static": config.pout_echelon_static,
        "pout_installation": config.pout_installation,
        "pout_installation_static": config.pout_installation_static,
    }.get(name, [])
    if n_params == 0:
        return np.zeros(0)
    if not given:
        return None
    if len(given) != n_params:
        raise UserError(
            f"baseline '{name}' needs {n_params} parameters but the baseline settings give {len(given)}; "
            f"give all of them (--set baselines.<key>=[...]) or none to tune them"
        )
    return np.asarray(given, dtype=np.float64)


@dataclass
class TuneResult:
    """A tuned baseline."""

    name: str  # policy name
    params: np.ndarray  # (P,) best parameter values found
    param_names: list[str]  # what each value is
    mean_cost: float  # mean chain cost per episode on the tuning demand
    n_candidates: int  # parameter sets simulated
    seconds: float  # wall time of the search


def candidate_costs(
    name: str, params: np.ndarray, env_config: EnvConfig, demand: np.ndarray, seed: int = 0
) -> np.ndarray:
    """Mean chain cost per episode of K parameter sets on the same demand paths, simulated as one batch.

    params (K, P), demand (M, T, S) -> (K,). Every candidate faces the same demand paths (common random
    numbers); shipping-loss draws, when on, come from the env's generator seeded with `seed`, so they are
    the same run to run but differ between candidates.
    """
    from envs import make_env

    K, M = params.shape[0], demand.shape[0]
    env = make_env(env_config, n_envs=K * M)
    policy = make_baseline(name, np.repeat(params, M, axis=0))  # candidate k owns envs k*M .. k*M+M-1
    cost = rollout(policy, env, np.tile(demand, (K, 1, 1)), seed=seed, record=False)  # (K*M, N)
    return cost.sum(axis=1).reshape(K, M).mean(axis=1)


def coordinate_search(
    evaluate: Callable[[np.ndarray], np.ndarray],
    space: ParamSpace,
    max_sweeps: int = 40,
    width: int = 3,
    n_random_starts: int = 31,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, float, int]:
    """Minimise evaluate over the grid of ``space`` by coordinate search with shrinking steps.

    The search starts from the best of the textbook start and ``n_random_starts`` uniform grid points
    (one batched call), which keeps it out of the poor local minima a coupled parameter (a smoothing
    constant, an (s, S) pair) can create. Each move tries, for one parameter, the 2*width values at
    +-1..width steps in one batched call, and keeps the best if it lowers the cost. A sweep visits every
    parameter; when a sweep improves nothing the steps halve, and the search ends when a sweep at step 1
    improves nothing. evaluate: (K, P) values -> (K,) costs. Returns best values (P,), best cost,
    candidates simulated.
    """
    P = len(space.values)
    rng = rng if rng is not None else np.random.default_rng(0)
    starts = np.concatenate([
        space.index_of(space.start)[None],
        np.stack([rng.integers(0, len(v), n_random_starts) for v in space.values], axis=1),
    ])  # (1 + n_random_starts, P)
    start_costs = evaluate(space.value_of(starts))
    k = int(np.argmin(start_costs))
    x, best = starts[k], float(start_costs[k])
    n_evals = len(starts)
    # first steps cover about a quarter of each grid per side; with width 3 this searched better than 2
    # (which stalled (s, S) on stationary demand) and than 4 (worse optima on the network) in our runs
    steps = np.array([max(1, len(v) // (4 * width)) for v in space.values])
    for _ in range(max_sweeps):
        improved = False
        for p in range(P):
            offsets = steps[p] * np.concatenate([np.arange(-width, 0), np.arange(1, width + 1)])
            cand = np.unique(np.clip(x[p] + offsets, 0, len(space.values[p]) - 1))
            cand = cand[cand != x[p]]
            if cand.size == 0:
                continue
            X = np.repeat(x[None], cand.size, axis=0)
            X[:, p] = cand
            costs = evaluate(space.value_of(X))
            n_evals += cand.size
            k = int(np.argmin(costs))
            if costs[k] < best - 1e-9:
                best, x, improved = float(costs[k]), X[k], True
        if not improved:
            if steps.max() == 1:
                break
            steps = np.maximum(1, steps // 2)
    return space.value_of(x[None])[0], best, n_evals


def tune(
    name: str, env_config: EnvConfig, demand: np.ndarray, max_sweeps: int = 40, seed: int = 0
) -> TuneResult:
    """Fit one baseline's parameters by simulation on `demand` (M, T, S) (coordinate search, batched)."""
    import time

    from envs import make_env

    start = time.perf_counter()
    probe = make_env(env_config, n_envs=1)
    space = POLICIES[name].param_space(probe, DemandSummary.of(demand))
    evaluate = lambda X: candidate_costs(name, X, env_config, demand, seed)  # noqa: E731
    if not space.values:
        cost = float(evaluate(np.zeros((1, 0)))[0])
        return TuneResult(name, np.zeros(0), [], cost, 1, time.perf_counter() - start)
    params, cost, n = coordinate_search(evaluate, space, max_sweeps, rng=np.random.default_rng(seed))
    return TuneResult(name, POLICIES[name].canonical(params), space.names, cost, n, time.perf_counter() - start)


def tuning_demand(config: ExperimentConfig, baseline_config: BaselineConfig, n_streams: int) -> np.ndarray:
    """Demand paths from the training generator, seeded by ``tune_seed`` (never the test files).  (M, T, S)"""
    from utils.data_loader import sample_demand

    rng = np.random.default_rng(baseline_config.tune_seed)
    return sample_demand(config.demand, rng, baseline_config.tune_paths, config.env.episode_length, n_streams)
