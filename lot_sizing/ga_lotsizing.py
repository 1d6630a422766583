"""A memetic genetic algorithm (adaptive rates + local search) for capacitated single-item lot sizing,
with or without backlogging.

What it is for, and what it is not: on every class ``benchmarks/lotsizing_gaps.py`` draws, an exact
solver is faster (Wagner-Whitin, Zangwill's backlogging DP, Florian-Klein, the inventory-level DP, or
the MIP, which needs well under a second even at T = 52 with fractional capacities and backlogging,
where the GA takes tens of seconds); use :func:`lot_sizing.optimal_lot_sizing` when an optimum is
wanted. The GA is kept as the reference implementation of the adaptive-rate memetic GA of the
literature, for comparisons. Its optima come mostly from the local search (the memetic step): the
benchmark prints the GA with and without it, and the local search alone from the classic rules'
setups (:func:`lot_sizing.setup_search.local_search_lot_sizing`); the genetic part closes the last
gaps the descent leaves (uncapacitated: 97.5% of instances optimal by the descent alone, 100% by the GA).

Decoding (setups -> lots), repair and the local search over setups are in
:mod:`lot_sizing.setup_search`: for given setups the decoded lots are optimal.

Adaptive rates - the rule of Srinivas & Patnaik (1994), as used for lot sizing with self-adjusting
operation rates by Hop & Tabucanon (2005). With costs c (lower is fitter), c_min and c_avg of the
current population:
    p_c = k1 (c' - c_min) / (c_avg - c_min)   if c' <= c_avg,   else k3
    p_m = k2 (c  - c_min) / (c_avg - c_min)   if c  <= c_avg,   else k4
where c' is the cost of the fitter of the two parents and c the cost of the individual to mutate
(the fitter parent's, as the child's is unknown before decoding). Good individuals are disturbed
little, poor ones a lot; once the population has converged (zero spread) every individual gets
k3 and k4, the disruptive rates, which restores diversity. Srinivas & Patnaik
keep a small floor on p_m so the best solutions still move: ``min_mutation`` here. A child flips
each gene with probability p_m * genes_per_mutation / T, plus one gene chosen at random, so no
child is a clone of its parent (with tournament selection and small rates for good parents, clones
would otherwise fill the population).

Operators: tournament selection, two-point crossover (a run of lots from the second parent),
the mutation above, and elitism (the best ``elite`` individuals survive unchanged). The initial
population holds the setup vectors of the five classic rules (lot-for-lot, Silver-Meal, least unit
cost, part-period balancing, Groff) and random vectors.

Local search (memetic step, ``local_search=True``): each new best plan, and ``polish_children``
children drawn at random each generation, are improved by steepest descent over "flip one gene"
and "move one setup to a neighbouring (or, for the best, any) closed period"; the improved setups
go back into the population (Lamarckian). Without it the GA alone reaches the optimum far less
often (``benchmarks/lotsizing_gaps.py`` prints both). The run stops after ``patience``
generations without improvement or after ``max_generations``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from lot_sizing.classic import classic_rule_setups
from lot_sizing.core import (
    LotSizingPlan,
    PeriodValue,
    plan_cost,
    prepare_capacitated,
)
from lot_sizing.setup_search import _local_descent, _Problem
from utils.errors import UserError


@dataclass
class GAConfig:
    """Hyperparameters of the memetic genetic algorithm (adaptive rates + local search)."""

    population_size: int = 40  # individuals per generation (P)
    max_generations: int = 400  # hard cap on generations
    patience: int = 40  # stop after this many generations without a better best plan
    elite: int = 2  # best individuals copied unchanged into the next generation
    tournament_size: int = 2  # individuals drawn per tournament when picking a parent
    k1: float = 1.0  # crossover rate scale for above-average pairs (Srinivas & Patnaik: 1.0)
    k2: float = 0.5  # mutation rate scale for above-average individuals (S&P: 0.5)
    k3: float = 1.0  # crossover rate for below-average pairs (S&P: 1.0)
    k4: float = 0.5  # mutation rate for below-average individuals (S&P: 0.5)
    min_mutation: float = 0.05  # floor on p_m so children of the best parents still explore
    genes_per_mutation: float = 2.0  # expected extra genes flipped in a child at p_m = 1
    local_search: bool = True  # polish each new best plan by steepest descent over one-gene flips and setup shifts
    wide_polish: bool = True  # a new best plan may move a setup to any closed period, not just the next/previous
    polish_children: int = 3  # children drawn at random and polished by the descent every generation
    random_setup_density: float = 0.35  # share of ones in the random part of the first population
    seed: int = 0  # seed of the generator used when none is passed in

    def validate(self) -> None:
        """Raise ``UserError`` on a value the algorithm cannot run with."""
        if self.population_size < max(2, self.elite + 1):
            raise UserError(f"population_size must exceed elite and be >= 2, got {self.population_size}")
        if self.max_generations < 1 or self.patience < 1:
            raise UserError("max_generations and patience must be >= 1")
        if self.tournament_size < 1 or self.elite < 0:
            raise UserError("tournament_size must be >= 1 and elite >= 0")
        rates = [self.k1, self.k2, self.k3, self.k4, self.min_mutation, self.random_setup_density]
        if any(not 0.0 <= r <= 1.0 for r in rates):
            raise UserError("k1..k4, min_mutation and random_setup_density are probabilities in [0, 1]")
        if self.genes_per_mutation <= 0:
            raise UserError(f"genes_per_mutation must be > 0, got {self.genes_per_mutation}")


@dataclass(frozen=True)
class GALotSizingPlan(LotSizingPlan):
    """A GA plan with the run's record."""

    generations: int = 0  # generations run before stopping
    best_cost_history: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (generations+1,) best cost


def _adaptive_rate(cost: np.ndarray, c_min: float, c_avg: float, k_good: float, k_poor: float) -> np.ndarray:
    """Srinivas-Patnaik rate (P,) for individuals of the given cost (lower cost = fitter)."""
    spread = c_avg - c_min
    if spread <= 1e-12 * max(1.0, abs(c_avg)):
        return np.full(cost.shape, k_poor)  # converged: every individual counts as average
    return np.where(cost <= c_avg, k_good * (cost - c_min) / spread, k_poor)


def memetic_lot_sizing(
    demand: np.ndarray,
    setup_cost: PeriodValue,
    holding_cost: PeriodValue,
    capacity: Optional[PeriodValue] = None,
    backlog_cost: Optional[PeriodValue] = None,
    initial_inventory: float = 0.0,
    config: Optional[GAConfig] = None,
    rng: Optional[np.random.Generator] = None,
) -> GALotSizingPlan:
    """Memetic GA (adaptive rates + local search) for (capacitated, backlogging) single-item lot sizing.

    demand: (T,); costs and capacity scalar or (T,). ``backlog_cost=None`` forbids backlogging.
    ``rng`` drives every random draw (default: ``np.random.default_rng(config.seed)``), so a seed
    reproduces the plan bit for bit. Returns the best plan found, priced by ``plan_cost``.
    """
    cfg = config or GAConfig()
    cfg.validate()
    rng = rng if rng is not None else np.random.default_rng(cfg.seed)
    d, net, s, h, b, cap = prepare_capacitated(demand, setup_cost, holding_cost, capacity, backlog_cost, initial_inventory)
    T = d.size
    problem = _Problem(net, s, h, b, cap)

    P = cfg.population_size
    seeds = classic_rule_setups(d, s, h, initial_inventory)  # (5, T)
    random_part = rng.random((max(P - len(seeds), 0), T)) < cfg.random_setup_density
    pop = np.concatenate([seeds, random_part])[:P]  # (P, T) bool
    lots, cost = problem.evaluate(pop)
    best = int(np.argmin(cost))
    best_y, best_x, best_c = pop[best].copy(), lots[best].copy(), float(cost[best])
    if cfg.local_search:
        best_y, best_x, best_c = _local_descent(problem, best_y, best_x, best_c, cfg.wide_polish)
        pop[best], lots[best], cost[best] = best_y, best_x, best_c
    history, stale, gen = [best_c], 0, 0
    n_children = P - cfg.elite
    flip_prob = min(1.0, cfg.genes_per_mutation / T)

    for gen in range(1, cfg.max_generations + 1):
        c_min, c_avg = float(cost.min()), float(cost.mean())
        # Tournament selection of two parents per child: lowest cost among `tournament_size` draws.
        draws = rng.integers(0, P, size=(2, n_children, cfg.tournament_size))
        winners = np.take_along_axis(draws, np.argmin(cost[draws], axis=2)[..., None], axis=2)[..., 0]
        pa, pb = winners  # (n_children,) each
        fitter = np.minimum(cost[pa], cost[pb])
        p_c = _adaptive_rate(fitter, c_min, c_avg, cfg.k1, cfg.k3)
        p_m = np.maximum(_adaptive_rate(fitter, c_min, c_avg, cfg.k2, cfg.k4), cfg.min_mutation)
        # Two-point crossover: parent b's genes between two cuts, parent a's elsewhere; a segment
        # of b's setups is a run of lots, which keeps the lot structure of both parents.
        cuts = np.sort(rng.integers(0, T + 1, size=(2, n_children)), axis=0)
        cross = rng.random(n_children) < p_c
        period = np.arange(T)[None, :]
        take_b = cross[:, None] & (period >= cuts[0][:, None]) & (period < cuts[1][:, None])
        children = np.where(take_b, pop[pb], pop[pa])  # (n_children, T)
        # Mutation: each gene flips with probability p_m * genes_per_mutation / T, plus one at random.
        flips = rng.random((n_children, T)) < (p_m * flip_prob)[:, None]
        flips[np.arange(n_children), rng.integers(0, T, size=n_children)] = True
        children ^= flips
        elite_idx = np.argsort(cost, kind="stable")[: cfg.elite]
        child_lots, child_cost = problem.evaluate(children)
        if cfg.local_search and cfg.polish_children > 0:
            # Polish children picked at random, not the best ones: the best are mostly one flip
            # away from the incumbent and would descend straight back to it.
            for j in rng.choice(n_children, size=min(cfg.polish_children, n_children), replace=False):
                children[j], child_lots[j], child_cost[j] = _local_descent(problem, children[j], child_lots[j], child_cost[j], False)
        pop = np.concatenate([pop[elite_idx], children])
        lots = np.concatenate([lots[elite_idx], child_lots])
        cost = np.concatenate([cost[elite_idx], child_cost])
        i = int(np.argmin(cost))
        if cost[i] < best_c - 1e-9 * max(1.0, abs(best_c)):
            best_y, best_x, best_c, stale = pop[i].copy(), lots[i].copy(), float(cost[i]), 0
            if cfg.local_search:  # Lamarckian: the polished plan goes back into the population
                best_y, best_x, best_c = _local_descent(problem, best_y, best_x, best_c, cfg.wide_polish)
                pop[i], lots[i], cost[i] = best_y, best_x, best_c
        else:
            stale += 1
        history.append(best_c)
        if stale >= cfg.patience:
            break

    orders = best_x
    total = plan_cost(d, orders, s, h, b, initial_inventory, None if capacity is None else cap)
    return GALotSizingPlan(orders=orders, cost=total, generations=gen, best_cost_history=np.asarray(history))
