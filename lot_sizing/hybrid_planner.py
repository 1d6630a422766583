"""Rolling-horizon lot sizing between a policy and an inventory system: the hybrid planner.

Two modes (``agents/planner_wrapper.py`` picks one with ``planner.mode``):

**net_requirements** (default): plan what the stage will face. Each period, for every row (one chain
and stage), the planner solves the lot-sizing problem of the coming H periods *of arrivals*: an
order placed now arrives in L periods (the stage's lead time), so problem period k is env period
t + L + k. With IP the inventory position (on-hand + pipeline + units the supplier owes - backlog),
f the forecast of the demand the stage sees per period (whole units) and SS the safety stock the
stage should keep, the problem is

    demand d_k = f (k = 0..H-1),  initial net stock I_{-1} = IP - L f - SS,
    cost = K [x_k > 0] + h max(I_k, 0) + b max(-I_k, 0),  x_k <= order cap,

i.e. the env's own cost terms (K the fixed cost per order, h and b the stage's holding and backlog
costs per unit and period, charged on end-of-period stock as in the env), on net stock measured
from the safety stock: holding above it costs h, every unit below it costs b (a unit of the
protection is spent). Backlog still open after the horizon costs b H per unit. The learned policy
supplies the safety stock through its action: its proposed order a implies the order-up-to level
S = IP + a, and SS = S - (L + 1) f, the protection beyond the expected demand over the lead time and
the ordering period. Consequences (tested): with K = 0 the planner orders exactly a (lot-for-lot on
net requirements is optimal), so a policy is unchanged where lots do not pay; with K > 0 it may order
more than a now (a lot for several periods) or nothing (postpone, paying b per unit and period
below the target). Because SS comes from the same period's proposal, IP and L cancel in the initial
net stock (I_{-1} = f - a): the state reaches the plan through the policy's order, and the forecast
and the env's costs shape the lots. The problem has whole-unit data, a constant capacity and
backlogging, so ``exact`` solves it by the DP over inventory levels
(:func:`lot_sizing.capacitated_dp.inventory_dp_first_orders`), all rows at once; ``ga`` runs the
memetic GA per row instead. The mapping to the env, and what it gains and loses: docs/hybrid_planner.md.

**retime**: the earlier mode, kept for comparison: the orders the policy proposes for the coming H
periods are taken as requirements and re-timed into lots (no lead time, no backlog), by name:

Back ends of the retime mode (``BACKENDS``; ``exact`` is the net-requirements solver):

* ``wagner_whitin``: the exact uncapacitated optimum of the horizon (an order above the order cap is
  cut to the cap by the caller).
* ``silver_meal``: the Silver-Meal lot: cover periods while the cost per period covered falls.
* ``ga``: the adaptive genetic algorithm of :mod:`lot_sizing.ga_lotsizing`, capacitated by the order
  cap, so a lot never exceeds what can be ordered in one period.
* ``dalsa``: DALSA (:mod:`lot_sizing.dalsa_module`); for a node with several suppliers it also splits
  the order between them using each supplier's lead time, per-unit price and order cost. A serial
  stage is a node with one supplier (lead time 0 in the planner's arrival clock, price 0).

The two batched back ends (Wagner-Whitin, Silver-Meal) run as numpy recursions over all rows at once
and reproduce :func:`lot_sizing.classic.wagner_whitin` and :func:`lot_sizing.classic.silver_meal`
exactly (same arithmetic, same tie-breaking); the GA and DALSA are called once per row, with an
optional cache keyed by the row's inputs (requirements are whole units, so rows repeat often).

With a zero setup cost, ordering each period's net requirement (lot-for-lot) is optimal for any
holding cost >= 0, so the planner then returns the net requirement of the current period without
calling a solver: a policy's orders pass through unchanged.

This module knows nothing of environments or agents: arrays in, arrays out. Building requirements
from a policy's proposals (:func:`rolling_requirements`, :func:`arrival_requirements`) is here too,
as array functions, so that their invariants are tested without an environment.
"""
from __future__ import annotations

from typing import Literal, Optional, Sequence

import numpy as np

from lot_sizing.capacitated_dp import inventory_dp_first_orders
from lot_sizing.core import PeriodValue, as_demand, as_period_values
from lot_sizing.dalsa_module import dalsa
from lot_sizing.multi_supplier import Supplier
from lot_sizing.ga_lotsizing import GAConfig, memetic_lot_sizing
from utils.errors import UserError

#: names of the lot-sizing back ends the planner can use
BACKENDS = ("exact", "wagner_whitin", "silver_meal", "ga", "dalsa")
#: the back ends of the retime mode (:func:`first_lots`)
RETIME_BACKENDS = BACKENDS[1:]


def check_backend(name: str) -> str:
    """Return `name` if it is a planner back end, else raise a one-line ``UserError``."""
    if name not in BACKENDS:
        raise UserError(f"unknown planner back end '{name}'; choose one of {', '.join(BACKENDS)}")
    return name


# ----------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------
def _as_requirements(requirements: np.ndarray) -> np.ndarray:
    """Check a batch of requirement streams: (R, H) finite, >= 0, H >= 1. Returns float (R, H)."""
    req = np.asarray(requirements, dtype=float)
    if req.ndim != 2 or req.shape[1] == 0:
        raise UserError(f"requirements must be a 2-D array (rows, horizon) with horizon >= 1, got shape {req.shape}")
    if not np.all(np.isfinite(req)):
        raise UserError("requirements contain a NaN or infinite value; give finite quantities")
    if np.any(req < 0):
        r, t = np.argwhere(req < 0)[0]
        raise UserError(f"requirement of row {r}, period {t} is negative ({req[r, t]:g}); requirements must be >= 0")
    return req


def _per_row(value: PeriodValue, n_rows: int, name: str, allow_inf: bool = False) -> np.ndarray:
    """Broadcast a scalar or check one non-negative value per row.  Returns float (R,)."""
    return as_period_values(value, n_rows, name, allow_inf=allow_inf, per="row")


def net_requirements(requirements: np.ndarray, initial_inventory: np.ndarray) -> np.ndarray:
    """Requirements left after each row's stock is used first-in-first-out.  (R, H), (R,) -> (R, H).

    Row by row the same arithmetic as :func:`lot_sizing.classic.net_demand`.
    """
    cum = np.cumsum(requirements, axis=1)
    covered = np.minimum(cum, initial_inventory[:, None])
    return requirements - np.diff(covered, axis=1, prepend=0.0)


# ----------------------------------------------------------------------------------------------
# Batched exact and classic first lots
# ----------------------------------------------------------------------------------------------
class _BatchedLotCosts:
    """Prefix sums pricing the lot (i, j) of every row at once, as ``classic._LotCosts`` does for one.

    net (R, H); setup, holding (R,) constant over the horizon.
    """

    def __init__(self, net: np.ndarray, setup: np.ndarray, holding: np.ndarray) -> None:
        R, H = net.shape
        zero = np.zeros((R, 1))
        self.setup = setup
        self.cum_demand = np.concatenate([zero, np.cumsum(net, axis=1)], axis=1)  # (R, H+1)
        self.cum_holding = np.concatenate([zero, np.cumsum(np.repeat(holding[:, None], H, axis=1), axis=1)], axis=1)
        hd = np.repeat(holding[:, None], H, axis=1) * self.cum_demand[:, 1:]
        self.cum_holding_demand = np.concatenate([zero, np.cumsum(hd, axis=1)], axis=1)  # (R, H+1)

    def total(self, starts: np.ndarray, j: int) -> np.ndarray:
        """Setup (if the lot is not empty) plus holding of the lots (i, j) for i in `starts`.  -> (R, len(starts))"""
        cd, ch, chd = self.cum_demand, self.cum_holding, self.cum_holding_demand
        quantity = cd[:, j + 1, None] - cd[:, starts]
        holding = cd[:, j + 1, None] * (ch[:, j, None] - ch[:, starts]) - (chd[:, j, None] - chd[:, starts])
        return np.where(quantity > 0, self.setup[:, None], 0.0) + holding


def wagner_whitin_first_lots(net: np.ndarray, setup: np.ndarray, holding: np.ndarray) -> np.ndarray:
    """First-period order of the Wagner-Whitin optimum of every row.  net (R, H), setup, holding (R,) -> (R,).

    The forward O(H^2) recursion of :func:`lot_sizing.classic.zio_lot_sizing`, vectorised over rows,
    with its tie-breaking (the latest lot start wins), so each row equals ``wagner_whitin(...).orders[0]``.
    """
    R, H = net.shape
    lots = _BatchedLotCosts(net, setup, holding)
    rows = np.arange(R)
    best = np.zeros((R, H + 1))  # best[:, j] = cheapest cost of covering periods 0..j-1
    arg = np.zeros((R, H + 1), dtype=np.int64)  # start of the last lot of that plan
    for j in range(H):
        cand = best[:, : j + 1] + lots.total(np.arange(j + 1), j)  # (R, j+1)
        i = j - np.argmin(cand[:, ::-1], axis=1)
        best[:, j + 1], arg[:, j + 1] = cand[rows, i], i
    # Walk the lots back from the horizon's end to the one that starts in period 0.
    end = np.full(R, H)
    for _ in range(H):
        start = arg[rows, end]
        end = np.where(start > 0, start, end)
    return lots.cum_demand[rows, end] - lots.cum_demand[:, 0]


def silver_meal_first_lots(net: np.ndarray, setup: np.ndarray, holding: np.ndarray) -> np.ndarray:
    """First-period order of the Silver-Meal plan of every row.  net (R, H), setup, holding (R,) -> (R,).

    A lot starts now only if the current period has a net requirement; it covers periods 0..j while
    the cost per period covered does not rise, exactly as :func:`lot_sizing.classic.silver_meal`.
    """
    R, H = net.shape
    lots = _BatchedLotCosts(net, setup, holding)
    total = np.stack([lots.total(np.array([0]), j)[:, 0] for j in range(H)], axis=1)  # (R, H) cost of lot (0, j)
    n_covered = np.arange(1, H + 1)
    extend = total[:, 1:] / n_covered[1:] <= total[:, :-1] / n_covered[:-1]  # (R, H-1): also cover period j
    last = np.cumprod(extend, axis=1).sum(axis=1)  # periods 0..last, extended while the rule allows
    quantity = lots.cum_demand[np.arange(R), last + 1] - lots.cum_demand[:, 0]
    return np.where(net[:, 0] > 0, quantity, 0.0)


# ----------------------------------------------------------------------------------------------
# The planner: one order per row (single supplier) or per row and supplier (DALSA)
# ----------------------------------------------------------------------------------------------
def first_lots(
    requirements: np.ndarray,
    setup_cost: PeriodValue,
    holding_cost: PeriodValue,
    backend: str = "wagner_whitin",
    capacity: Optional[PeriodValue] = None,
    initial_inventory: PeriodValue = 0.0,
    ga_config: Optional[GAConfig] = None,
    dalsa_phase2: Literal["zio", "exact"] = "zio",
    cache: Optional[dict] = None,
) -> np.ndarray:
    """Order to place now for every row, from a lot-sizing plan of its coming requirements.

    requirements (R, H): units each row needs in each of the next H periods (period 0 = now).
    setup_cost, holding_cost: the fixed cost of one order and the cost of holding one unit one period,
    one value or one per row (R,). capacity: most units one order may hold (None or inf = no limit);
    the GA and DALSA plan within it, Wagner-Whitin and Silver-Meal lots are cut to it. initial_inventory
    (R,): units already ordered ahead of the requirements, used first. ga_config: GA settings (its
    ``seed`` seeds every row's run, so a row's answer depends on its inputs only). cache: a dict the
    caller keeps across calls to reuse GA and DALSA answers of rows seen before.
    Returns (R,) float, whole units when requirements and stock are whole.
    """
    if check_backend(backend) == "exact":
        raise UserError("back end 'exact' solves the net_requirements mode; retime uses wagner_whitin, silver_meal, ga or dalsa")
    req = _as_requirements(requirements)
    R, H = req.shape
    setup = _per_row(setup_cost, R, "setup_cost")
    holding = _per_row(holding_cost, R, "holding_cost")
    stock = _per_row(initial_inventory, R, "initial_inventory")
    cap = np.full(R, np.inf) if capacity is None else _per_row(capacity, R, "capacity", allow_inf=True)
    if np.any(cap <= 0):
        raise UserError("capacity must be > 0 (inf for no limit)")
    net = net_requirements(req, stock)
    # With no setup cost lot-for-lot is optimal: order the current net requirement, no solver needed.
    lots = net[:, 0].copy()
    todo = np.flatnonzero(setup > 0)
    if todo.size == 0:
        return np.minimum(lots, cap)
    if backend == "wagner_whitin":
        lots[todo] = wagner_whitin_first_lots(net[todo], setup[todo], holding[todo])
    elif backend == "silver_meal":
        lots[todo] = silver_meal_first_lots(net[todo], setup[todo], holding[todo])
    else:
        cfg = ga_config or GAConfig()
        for r in todo:
            key = (backend, req[r].tobytes(), setup[r], holding[r], cap[r], stock[r], dalsa_phase2, repr(cfg))
            if cache is not None and key in cache:
                lots[r] = cache[key]
                continue
            if backend == "ga":
                plan = memetic_lot_sizing(req[r], setup[r], holding[r], capacity=cap[r], initial_inventory=stock[r],
                                          config=cfg, rng=np.random.default_rng(cfg.seed))
                lots[r] = plan.orders[0]
            else:
                supplier = Supplier(lead_time=0, unit_price=0.0, order_cost=setup[r], capacity=cap[r])
                lots[r] = dalsa(req[r], [supplier], holding[r], stock[r], dalsa_phase2).orders[0, 0]
            if cache is not None:
                cache[key] = lots[r]
    return np.minimum(lots, cap)


def first_supplier_orders(
    requirements: np.ndarray,
    lead_times: np.ndarray,
    unit_prices: np.ndarray,
    setup_cost: PeriodValue,
    holding_cost: PeriodValue,
    capacity: float = float("inf"),
    initial_inventory: PeriodValue = 0.0,
    dalsa_phase2: Literal["zio", "exact"] = "zio",
    cache: Optional[dict] = None,
) -> np.ndarray:
    """Orders to place now with each supplier of every row, by DALSA on its coming requirements.

    requirements (R, H): units each node needs to *arrive* in each of the next H periods (period 0 =
    now); an order placed now with supplier k arrives lead_times[r, k] periods later. lead_times (R, K)
    int, unit_prices (R, K) (per unit, e.g. the edge's shipping cost); setup_cost (the fixed cost of one
    order with any supplier) and holding_cost one value or one per row; capacity: most units per order.
    Requirements that no supplier can deliver in time must be 0 (they are covered by what is already
    on its way) or DALSA raises ``UserError``. Returns (R, K) float.
    """
    req = _as_requirements(requirements)
    R, H = req.shape
    lead = np.asarray(lead_times)
    price = np.asarray(unit_prices, dtype=float)
    if lead.ndim != 2 or lead.shape[0] != R or price.shape != lead.shape:
        raise UserError(f"lead_times and unit_prices must both have shape (rows, suppliers) = ({R}, K), got {lead.shape} and {price.shape}")
    setup = _per_row(setup_cost, R, "setup_cost")
    holding = _per_row(holding_cost, R, "holding_cost")
    stock = _per_row(initial_inventory, R, "initial_inventory")
    orders = np.zeros(lead.shape)
    for r in range(R):
        key = (req[r].tobytes(), lead[r].tobytes(), price[r].tobytes(), setup[r], holding[r], capacity, stock[r], dalsa_phase2)
        if cache is not None and key in cache:
            orders[r] = cache[key]
            continue
        suppliers: Sequence[Supplier] = [
            Supplier(lead_time=int(L), unit_price=float(p), order_cost=float(setup[r]), capacity=capacity)
            for L, p in zip(lead[r], price[r])
        ]
        orders[r] = dalsa(req[r], suppliers, holding[r], stock[r], dalsa_phase2).orders[:, 0]
        if cache is not None:
            cache[key] = orders[r].copy()
    return orders


# ----------------------------------------------------------------------------------------------
# Requirements from a policy's proposals
# ----------------------------------------------------------------------------------------------
def rolling_requirements(current: np.ndarray, forecast: np.ndarray, horizon: int, deficit: Optional[np.ndarray] = None) -> np.ndarray:
    """Requirements of the next `horizon` periods: now the current proposal plus any deficit of earlier
    proposals not yet ordered, then the forecast of later proposals.  current, forecast, deficit (R,) -> (R, H)."""
    if horizon < 1:
        raise UserError(f"planner horizon must be at least 1 period, got {horizon}")
    current = as_demand(np.ravel(current), "current proposals")
    forecast = as_demand(np.ravel(forecast), "forecast proposals")
    if forecast.shape != current.shape:
        raise UserError(f"forecast has {forecast.size} rows but there are {current.size} proposals; give one per row")
    req = np.repeat(forecast[:, None], horizon, axis=1)
    req[:, 0] = current if deficit is None else current + np.maximum(deficit, 0.0)
    return req


def arrival_requirements(current: np.ndarray, forecast: np.ndarray, lead_times: np.ndarray, horizon: int) -> np.ndarray:
    """Units a node needs to arrive in each of the next `horizon` periods, from proposals per supplier.

    current (R, K): what the policy proposes to order now from each supplier, arriving lead_times (R, K)
    periods later; forecast (R, K): what it is expected to order from each supplier in later periods.
    Arrival period s then needs sum_k [s == L_k] current_k + [s > L_k] forecast_k.  -> (R, H)
    """
    current = np.asarray(current, dtype=float)
    forecast = np.asarray(forecast, dtype=float)
    lead = np.asarray(lead_times)
    if current.shape != lead.shape or forecast.shape != lead.shape or lead.ndim != 2:
        raise UserError("current, forecast and lead_times must all have shape (rows, suppliers)")
    if horizon <= int(lead.max()):
        raise UserError(f"planner horizon {horizon} must exceed the longest lead time {int(lead.max())}")
    s = np.arange(horizon)[None, None, :]  # (1, 1, H)
    arrive_now = (s == lead[..., None]) * current[..., None]
    arrive_later = (s > lead[..., None]) * forecast[..., None]
    return (arrive_now + arrive_later).sum(axis=1)  # (R, H)


# ----------------------------------------------------------------------------------------------
# The net-requirements planner
# ----------------------------------------------------------------------------------------------
def net_requirement_problem(position, proposal, forecast, lead_time, horizon: int):
    """The rows' lot-sizing problems: (demand (R, H), initial net stock (R,), safety stock (R,)).

    position (R,): inventory position before ordering; proposal (R,): the policy's order, read as
    the order-up-to level S = position + proposal; forecast (R,): demand per period, rounded to whole
    units; lead_time (R,) periods. See the module docstring for the model.
    """
    if horizon < 1:
        raise UserError(f"planner horizon must be at least 1 period, got {horizon}")
    position = np.asarray(position, dtype=float)
    f = np.rint(np.maximum(np.asarray(forecast, dtype=float), 0.0))
    lead = np.asarray(lead_time, dtype=float)
    safety = position + np.asarray(proposal, dtype=float) - (lead + 1.0) * f
    start = position - lead * f - safety
    return np.repeat(f[:, None], horizon, axis=1), start, safety


def _cached_dp_first_orders(demand, setup, holding, backlog, capacity: int, start, cache: Optional[dict]) -> np.ndarray:
    """inventory_dp_first_orders for the rows, each answer looked up in ``cache`` first.  -> (R,)

    A row's first order depends on its own inputs only (the shared grid of levels covers every row's
    reachable range, and levels outside a row's range never win), so answers can be reused across
    calls: a training run's rows are whole-unit forecasts and net stocks that repeat within a few
    hundred periods, and one DP call costs more than the whole env step."""
    end_backlog = backlog * demand.shape[1]  # (R,) per unit still owed after the horizon
    if cache is None:
        return inventory_dp_first_orders(demand, setup, holding, backlog, capacity, start, end_backlog)
    keys = [("dp", capacity, *row) for row in np.column_stack([demand, setup, holding, backlog, start]).tolist()]
    orders = np.array([cache.get(k, np.nan) for k in keys])
    missing = np.flatnonzero(np.isnan(orders))
    if missing.size:
        orders[missing] = inventory_dp_first_orders(demand[missing], setup[missing], holding[missing], backlog[missing],
                                                    capacity, start[missing], end_backlog[missing])
        cache.update((keys[r], orders[r]) for r in missing)
    return orders


def net_requirement_orders(
    position: np.ndarray,
    proposal: np.ndarray,
    forecast: np.ndarray,
    lead_time: np.ndarray,
    setup_cost: PeriodValue,
    holding_cost: PeriodValue,
    backlog_cost: PeriodValue,
    capacity: int,
    horizon: int,
    backend: str = "exact",
    ga_config: Optional[GAConfig] = None,
    cache: Optional[dict] = None,
) -> np.ndarray:
    """Order to place now for every row, from the optimal plan of its net requirements.  -> (R,)

    position, proposal, forecast, lead_time (R,) as in :func:`net_requirement_problem`; setup,
    holding and backlog costs one value or one per row; capacity: the order cap. ``backend`` "exact"
    (the DP over inventory levels, all rows at once) or "ga" (the memetic GA per row); with ``cache``
    (a dict kept between calls) either reuses the answer of a row seen before. With a zero setup cost
    the answer is the proposal itself (clipped to the cap).
    """
    if backend not in ("exact", "ga"):
        raise UserError(f"planner mode net_requirements solves with back end 'exact' or 'ga', got '{backend}'")
    demand, start, _ = net_requirement_problem(position, proposal, forecast, lead_time, horizon)
    R, H = demand.shape
    setup = _per_row(setup_cost, R, "setup_cost")
    holding = _per_row(holding_cost, R, "holding_cost")
    backlog = _per_row(backlog_cost, R, "backlog_cost")
    orders = np.clip(np.asarray(proposal, dtype=float), 0, capacity)  # lot-for-lot: optimal at K = 0
    todo = np.flatnonzero(setup > 0)
    if todo.size == 0:
        return orders
    if backend == "exact":
        orders[todo] = _cached_dp_first_orders(demand[todo], setup[todo], holding[todo], backlog[todo], capacity,
                                               start[todo], cache)
        return orders
    cfg = ga_config or GAConfig()
    for r in todo:
        # The GA's model has no initial backlog and no end-of-horizon backlog: a backlog now is demand
        # of period 0, and everything is delivered by the horizon's end (enough capacity is added to
        # the last period when the cap cannot clear it otherwise).
        d = demand[r].copy()
        d[0] += max(-start[r], 0.0)
        cap = np.full(H, float(capacity))
        cap[-1] = max(cap[-1], d.sum() - max(start[r], 0.0) - cap[:-1].sum())
        key = ("ga", d.tobytes(), cap.tobytes(), setup[r], holding[r], backlog[r], max(start[r], 0.0), repr(cfg))
        if cache is not None and key in cache:
            orders[r] = cache[key]
            continue
        plan = memetic_lot_sizing(d, setup[r], holding[r], cap, backlog[r], max(start[r], 0.0), cfg,
                                  np.random.default_rng(cfg.seed))
        orders[r] = min(plan.orders[0], capacity)
        if cache is not None:
            cache[key] = orders[r]
    return orders
