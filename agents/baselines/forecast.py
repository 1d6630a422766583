"""Policies whose levels follow a demand forecast (exponential smoothing), and proportional order-up-to (POUT)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from agents.baselines.common import (
    DemandSummary, ParamSpace, _ParamPolicy, _cumulative_coverage, _level_grid, _multi_index_orders, _require_serial,
    is_serial, network_layout,
)
from agents.baselines.policies import EchelonBaseStock, InstallationBaseStock
from utils.errors import UserError


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


