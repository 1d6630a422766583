"""Policies whose levels follow a demand forecast (exponential smoothing), and proportional order-up-to (POUT).

* ``forecast_echelon`` (chain): echelon base-stock with S_i(t) = mu(t) * (L_0 + ... + L_i + 1) + safety_i,
  mu(t) = alpha d(t-1) + (1 - alpha) mu(t-1) the smoothed customer demand
* ``forecast_base_stock``: installation (multi-index) base-stock with levels mu_i(t) * (L + 1) + safety, mu_i the
  smoothed demand node i itself sees
* ``ProportionalOrderUpTo`` and its six families: see the class docstring
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from agents.baselines.common import DemandSummary, ParamPolicy, ParamSpace, level_grid, multi_index_orders, node_caps
from agents.baselines.policies import EchelonBaseStock, InstallationBaseStock
from utils.errors import UserError


class ForecastEchelonBaseStock(ParamPolicy):
    """Echelon base-stock with levels mu(t) * (cumulative lead time + 1) + safety_i (chain).

    mu starts at the demand the env shows at reset (the paper's observation shows the initial pipeline
    level there) and is smoothed with each period's customer demand. params: alpha, safety_0..safety_{N-1}.
    """

    name = "forecast_echelon"
    requires = "chain"

    @classmethod
    def param_space(cls, env: Any, demand: DemandSummary) -> ParamSpace:
        cls.check_graph(env)
        alphas = ForecastEchelonBaseStock.param_space_alphas()
        cover = env.graph.echelon_cover
        half = np.ceil(demand.high * cover / 2)
        safety = [np.arange(-h, h + cap + 1, dtype=np.float64) for h, cap in zip(half, node_caps(env.graph))]
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
        self.check_graph(env)
        p = self.batch_params(env.n_envs)
        alpha, safety = p[:, 0], p[:, 1:]
        if env.t > self.t_seen:  # a new period's customer demand is known: update the forecast once
            self.mu = alpha * env.demand_seen[:, 0] + (1 - alpha) * self.mu
            self.t_seen = env.t
        level = self.mu[:, None] * env.graph.echelon_cover[None] + safety  # (B, N)
        return self.order_up_to(level, env.echelon_position(), node_caps(env.graph))[:, :, None]


class ForecastBaseStock(ParamPolicy):
    """Installation base-stock (multi-index with several suppliers) whose levels follow each agent's own demand forecast.

    Agent i smooths the demand it sees, mu_i(t) = alpha r_i(t-1) + (1 - alpha) mu_i(t-1), from a tuned
    starting forecast mu_0, and orders up to mu_i(t) * (L + 1) + safety on the position of
    ``installation_base_stock`` (L: the supplier edge's lead time). params: alpha, mu_0, then one safety term
    per node and supplier (``graph.supplier_layout`` order).
    """

    name = "forecast_base_stock"

    @staticmethod
    def param_space(env: Any, demand: DemandSummary) -> ParamSpace:
        base = InstallationBaseStock.param_space(env, demand)
        alphas = ForecastEchelonBaseStock.param_space_alphas()
        mu0 = level_grid(demand.high)
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
        lay = env.graph.supplier_layout
        return multi_index_orders(env, self.mu[:, lay.node] * (lay.lead + 1.0)[None] + safety)


class ProportionalOrderUpTo(ParamPolicy):
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

    * echelon (chain only): the echelon position EIP_i and the smoothed CUSTOMER demand, the demand of
      every echelon (Clark-Scarf view; the echelon position already uses shared information).
    * installation: the stage's own position IP_i and the smoothed demand the stage ITSELF sees (customer
      demand at the retailer, the downstream stage's orders above it): local information only, the classic
      installation reading. With several suppliers per node, the multi-index positions of ``installation_base_stock`` per node
      and supplier (fastest first), levels S_{i,e}(t) = k_{i,e} mu_i(t) from the node's own smoothed demand;
      every supplier's gap is divided by the node's T_i and the feed-forward mu_i goes to the node's slowest
      supplier (the one whose position is the node's whole inventory position), so a single-supplier node is
      serial installation POUT and T_i = 1 is the multi-index base-stock.

    Starting forecast mu(0): the demand the env shows at reset where it shows one (``env.reset_shows_demand``:
    the serial chain shows the initial pipeline level, as ``forecast_echelon``); otherwise mu_0 is a parameter.

    params (P,) or (B, P), in this order:
      alpha, [mu_0 where the env shows no demand at reset], one level per node (echelon) or per node and
      supplier in ``graph.supplier_layout`` order (installation; level = k or S), [one T per node]
    (the T block only for the smoothing families; without it T_i = 1, i.e. order-up-to).
    """

    name = ""
    echelon = False  # echelon position and customer-demand forecast (else installation / own demand)
    proportional = True  # S_i = k_i * mu (else S_i static)
    smoothed = True  # has the T_i block (else T_i = 1: order-up-to)

    #: smoothing times searched (T = 1 is base-stock), reaching past the tuned values seen (docs/design_notes.md)
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
        """(number of levels, number of smoothing times, offset of the levels) for this env: one level per node
        (echelon) or per node and supplier (installation); mu_0 is a parameter where the env shows no demand at reset."""
        n_levels = env.n_agents if cls.echelon else len(env.graph.supplier_layout.node)
        return n_levels, env.n_agents if cls.smoothed else 0, 1 if env.reset_shows_demand else 2

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
        cls.check_graph(env)
        alphas = ForecastEchelonBaseStock.param_space_alphas()
        # 99th percentile over mean demand, kept within [1.5, 4] so that the grids stay searchable
        ratio = min(4.0, max(1.5, demand.high / demand.mean)) if demand.mean > 0 else 1.5
        if cls.echelon:
            cover = env.graph.echelon_cover  # (N,) periods a level covers
            static = EchelonBaseStock.param_space(env, demand)
            suffix = [f"[{n}]" for n in env.agent_names]
        else:
            lay = env.graph.supplier_layout
            cover = lay.lead + 1.0  # (P,)
            static = InstallationBaseStock.param_space(env, demand)
            suffix = [f"[{label}]" for label in lay.label]
        head_names, head_values, head_start = ["alpha"], [alphas], [0.2]
        if not env.reset_shows_demand:
            head_names, head_values, head_start = ["alpha", "mu_0"], [alphas, level_grid(demand.high)], [0.2, demand.mean]
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
        if env.reset_shows_demand:
            seen = env.demand_seen.astype(np.float64)  # (B, N) what the env shows at reset
            self.mu = seen[:, :1].copy() if self.echelon else seen.copy()  # (B, 1) customer or (B, N) own
        else:
            mu0 = self.batch_params(env.n_envs)[:, 1]
            self.mu = np.repeat(mu0[:, None], 1 if self.echelon else env.n_agents, axis=1)  # (B, 1) or (B, N)
        self.t_seen = 0

    def _update_forecast(self, env: Any, alpha: np.ndarray) -> None:
        """Smooth in the demand of the period that just ended (env.demand_seen), once per period."""
        if env.t > self.t_seen:
            seen = env.demand_seen[:, :1] if self.echelon else env.demand_seen  # (B, 1) or (B, N)
            self.mu = alpha[:, None] * seen + (1 - alpha[:, None]) * self.mu
            self.t_seen = env.t

    # ---------------------------------------------------------------- orders
    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        self.check_graph(env)
        alpha, levels, T = self._split(self.batch_params(env.n_envs), env)  # (B,), (B, L), (B, N)
        self._update_forecast(env, alpha)
        if not self.echelon:
            lay = env.graph.supplier_layout
            S = levels * self.mu[:, lay.node] if self.proportional else levels  # (B, P)
            return multi_index_orders(env, S, feed_forward=self.mu, smoothing=T)
        S = levels * self.mu if self.proportional else levels  # (B, N)
        order = self.mu + (S - env.echelon_position() - self.mu) / T  # (B, N)
        return np.clip(np.rint(order), 0, node_caps(env.graph)).astype(np.int64)[:, :, None]


class ForecastEchelonProportional(ProportionalOrderUpTo):
    """Echelon base-stock with levels k_i * mu(t), mu the smoothed customer demand (chain).  params: alpha, k_i."""

    name = "forecast_echelon_proportional"
    requires = "chain"
    echelon, proportional, smoothed = True, True, False


class ForecastInstallationProportional(ProportionalOrderUpTo):
    """Installation base-stock with levels k * mu_i(t), mu_i the smoothed demand node i sees (multi-index with
    several suppliers).  params: alpha, [mu_0], k per node and supplier."""

    name = "forecast_installation_proportional"
    echelon, proportional, smoothed = False, True, False


class POUTEchelonStatic(ProportionalOrderUpTo):
    """POUT on the echelon position with constant levels S_i (chain).  params: alpha, S_i, T_i."""

    name = "pout_echelon_static"
    requires = "chain"
    echelon, proportional, smoothed = True, False, True


class POUTEchelon(ProportionalOrderUpTo):
    """POUT on the echelon position with levels k_i * mu(t) (chain).  params: alpha, k_i, T_i."""

    name = "pout_echelon"
    requires = "chain"
    echelon, proportional, smoothed = True, True, True


class POUTInstallationStatic(ProportionalOrderUpTo):
    """POUT on the installation position with constant levels (multi-index with several suppliers).
    params: alpha, [mu_0], S per node and supplier, T per node."""

    name = "pout_installation_static"
    echelon, proportional, smoothed = False, False, True


class POUTInstallation(ProportionalOrderUpTo):
    """POUT on the installation position with levels k * mu_i(t) (multi-index with several suppliers).
    params: alpha, [mu_0], k per node and supplier, T per node."""

    name = "pout_installation"
    echelon, proportional, smoothed = False, True, True




class ForecastSS(ProportionalOrderUpTo):
    """(s, S) whose levels follow each node's own smoothed demand (one supplier per node).

    With mu_i(t) the smoothed demand node i sees (as ``forecast_installation_proportional``), a reorder point
    s_i(t) = a_i mu_i(t) and an order-up-to level S_i(t) = s_i(t) + b_i mu_i(t) in periods of demand, on the
    installation position IP_i: order clip(round(S_i(t) - IP_i), 0, cap) when IP_i <= s_i(t), else nothing.
    b_i >= 0 keeps S >= s; b_i mu is the batch a fixed order cost buys, and it grows with the demand level the way
    the economic order quantity does with demand (that one as its square root). alpha = 0 is the static ``s_S``
    with levels a_i mu(0) and (a_i + b_i) mu(0).

    params: alpha, [mu_0 where the env shows no demand at reset], a per node, b per node.
    """

    name = "forecast_s_S"
    requires = "single_supplier"
    echelon, proportional, smoothed = False, True, False

    @classmethod
    def _layout(cls, env: Any) -> tuple[int, int, int]:
        """Two levels per node (a block, then b block), no smoothing times."""
        return 2 * env.n_agents, 0, 1 if env.reset_shows_demand else 2

    @classmethod
    def param_space(cls, env: Any, demand: DemandSummary) -> ParamSpace:
        cls.check_graph(env)
        space = ForecastInstallationProportional.param_space(env, demand)  # alpha, [mu_0], k grid per node
        n_head = len(space.names) - env.n_agents
        cover = env.graph.node_lead + 1.0  # (N,) periods a reorder point covers
        # batches up to two order caps or the reorder point's own reach, in quarter periods
        b_reach = np.maximum(2 * node_caps(env.graph) / max(demand.mean, 1.0), cover)
        b_values = [np.arange(0.0, math.ceil(4 * r) / 4 + 0.125, 0.25) for r in b_reach]
        names = space.names[:n_head] + [f"a[{n}]" for n in env.agent_names] + [f"b[{n}]" for n in env.agent_names]
        start = np.concatenate([space.start[:n_head], cover, np.ones(env.n_agents)])
        return ParamSpace(names, space.values + b_values, start)

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        self.check_graph(env)
        alpha, levels, _ = self._split(self.batch_params(env.n_envs), env)  # (B,), (B, 2N)
        if (levels < 0).any():
            raise UserError(f"baseline '{self.name}': the factors a_i and b_i must be >= 0 (b_i >= 0 keeps S >= s)")
        self._update_forecast(env, alpha)
        N = env.n_agents
        s = levels[:, :N] * self.mu  # (B, N)
        S = s + levels[:, N:] * self.mu
        position = env.inventory_position()
        q = self.order_up_to(S, position, node_caps(env.graph))
        return np.where(position <= s, q, 0)[:, :, None]
