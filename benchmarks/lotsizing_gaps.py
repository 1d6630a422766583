"""Optimality gaps and time per instance of every lot-sizing solver, by instance class.

For each class (``--instances`` seeded random instances each) and each solver: mean and max gap to
the exact optimum, the share of instances solved to optimality, and mean / max milliseconds per
instance. Exact solvers are checked against each other (their gaps must be 0); the heuristics are
measured against them. Classes:

1. uncapacitated, T in 12..52, time-varying costs (optimum: Wagner-Whitin);
2. capacitated, T in 12..24, one whole-unit capacity for all periods, no backlog (optimum: the MIP;
   Florian-Klein and the inventory-level DP are exact too);
3. with backlog: uncapacitated (Zangwill's DP) and capacitated (inventory-level DP), against the MIP;
4. long horizon, T = 52, fractional time-varying capacities, backlog (a tenth as many instances):
   only the MIP is exact here;
   the memetic GA's gap and time where no DP applies;
5. multi-supplier, T = 12, 2-3 suppliers, half of them capacitated at 1.5..3x mean requirement;
6. multi-supplier, tight capacity: every supplier capacitated at 0.6..1.4x the mean requirement.
Then the fixtures: tiny whole-unit instances (T 3..5, capacities 1..3) on which every order vector is
enumerated; the MIP and the DPs must equal the enumeration on every one.

Usage: ``python benchmarks/lotsizing_gaps.py [--instances N] [--seed S]``
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys
import time

import numpy as np

from lot_sizing import (
    GAConfig,
    Supplier,
    backlogging_wagner_whitin,
    dalsa,
    exact_lot_sizing,
    exact_multi_supplier,
    florian_klein,
    groff,
    inventory_dp_lot_sizing,
    least_unit_cost,
    local_search_lot_sizing,
    lot_for_lot,
    memetic_lot_sizing,
    optimal_lot_sizing,
    part_period_balancing,
    plan_cost,
    silver_meal,
    single_supplier_plan,
    wagner_whitin,
)
from utils.errors import UserError, run_cli

OPTIMAL_TOL = 1e-7  # relative gap under which a plan counts as optimal


@contextlib.contextmanager
def quiet_stdout():
    """Silence output written straight to file descriptor 1 (HiGHS prints debug lines there)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


class Table:
    """Gaps and run times of several solvers on one instance class."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.gaps: dict[str, list[float]] = {}
        self.seconds: dict[str, list[float]] = {}

    def run(self, name: str, optimum: float, fn, *args, **kwargs):
        """Time fn(*args, **kwargs), record its plan's gap to `optimum`; returns the plan."""
        with quiet_stdout():
            start = time.perf_counter()
            plan = fn(*args, **kwargs)
            sec = time.perf_counter() - start
        gap = plan.cost / optimum - 1.0 if optimum > 0 else plan.cost - optimum
        self.gaps.setdefault(name, []).append(0.0 if -1e-9 < gap < 0.0 else gap)  # solver round-off only
        self.seconds.setdefault(name, []).append(sec)
        return plan

    def print(self) -> None:
        print(f"\n{self.title}")
        print(f"  {'solver':<34s} {'mean gap%':>9s} {'max gap%':>9s} {'optimal%':>8s} {'mean ms':>9s} {'max ms':>9s}")
        for name, gaps in self.gaps.items():
            g, s = np.array(gaps), 1e3 * np.array(self.seconds[name])
            print(f"  {name:<34s} {100 * g.mean():9.3f} {100 * g.max():9.3f} {100 * np.mean(g <= OPTIMAL_TOL):8.1f} "
                  f"{s.mean():9.2f} {s.max():9.2f}")


def timed_optimum(fn, *args, **kwargs):
    with quiet_stdout():
        return fn(*args, **kwargs)


def single_item(rng: np.random.Generator, T: int):
    """Whole-unit demand 0..200 (about 15% zero periods), setup 50..500, holding 0.5..2 per period."""
    d = rng.integers(0, 201, T).astype(float)
    d[rng.random(T) < 0.15] = 0.0
    return d, rng.uniform(50, 500, T), rng.uniform(0.5, 2.0, T)


def heuristics(table: Table, optimum: float, i: int, d, s, h, cap=None, b=None) -> None:
    table.run("memetic GA", optimum, memetic_lot_sizing, d, s, h, cap, b, rng=np.random.default_rng(i))
    table.run("GA without local search", optimum, memetic_lot_sizing, d, s, h, cap, b,
              config=GAConfig(local_search=False), rng=np.random.default_rng(i))
    table.run("local search alone (from rules)", optimum, local_search_lot_sizing, d, s, h, cap, b)


def uncapacitated(n: int, rng: np.random.Generator) -> None:
    table = Table(f"1. Uncapacitated, T in 12..52, time-varying costs, {n} instances (optimum: Wagner-Whitin)")
    rules = {"silver_meal": silver_meal, "least_unit_cost": least_unit_cost,
             "part_period_balancing": part_period_balancing, "groff": groff, "lot_for_lot": lot_for_lot}
    for i in range(n):
        d, s, h = single_item(rng, int(rng.integers(12, 53)))
        opt = wagner_whitin(d, s, h).cost
        table.run("wagner_whitin (exact)", opt, wagner_whitin, d, s, h)
        table.run("MIP (exact)", opt, exact_lot_sizing, d, s, h)
        heuristics(table, opt, i, d, s, h)
        for name, rule in rules.items():
            table.run(name, opt, rule, d, s, h)
    table.print()


def capacitated(n: int, rng: np.random.Generator) -> None:
    table = Table(f"2. Capacitated, T in 12..24, one whole-unit capacity, no backlog, {n} instances (optimum: MIP)")
    for i in range(n):
        T = int(rng.integers(12, 25))
        d, s, h = single_item(rng, T)
        cap = float(np.ceil(max(rng.uniform(1.2, 2.5) * max(d.mean(), 1.0), np.max(np.cumsum(d) / np.arange(1, T + 1)))))
        opt = timed_optimum(exact_lot_sizing, d, s, h, cap).cost
        table.run("MIP (exact)", opt, exact_lot_sizing, d, s, h, cap)
        table.run("florian_klein (exact)", opt, florian_klein, d, s, h, cap)
        table.run("inventory-level DP (exact)", opt, inventory_dp_lot_sizing, d, s, h, cap)
        heuristics(table, opt, i, d, s, h, cap)
    table.print()


def backlogging(n: int, rng: np.random.Generator) -> None:
    table = Table(f"3a. Uncapacitated with backlog, T in 12..24, {n} instances (optimum: MIP)")
    table_cap = Table(f"3b. Capacitated with backlog, T in 12..24, whole units, {n} instances (optimum: MIP)")
    for i in range(n):
        T = int(rng.integers(12, 25))
        d, s, h = single_item(rng, T)
        b = rng.uniform(2.0, 6.0, T)
        opt = timed_optimum(exact_lot_sizing, d, s, h, None, b).cost
        table.run("MIP (exact)", opt, exact_lot_sizing, d, s, h, None, b)
        table.run("backlogging_wagner_whitin (exact)", opt, backlogging_wagner_whitin, d, s, h, b)
        heuristics(table, opt, i, d, s, h, None, b)
        cap = float(np.ceil(rng.uniform(1.2, 2.5) * max(d.mean(), 1.0)))
        opt = timed_optimum(exact_lot_sizing, d, s, h, cap, b).cost
        table_cap.run("MIP (exact)", opt, exact_lot_sizing, d, s, h, cap, b)
        table_cap.run("inventory-level DP (exact)", opt, inventory_dp_lot_sizing, d, s, h, cap, b)
        table_cap.run("optimal_lot_sizing (picks)", opt, optimal_lot_sizing, d, s, h, cap, b)
        heuristics(table_cap, opt, i, d, s, h, cap, b)
    table.print()
    table_cap.print()


def long_fractional(n: int, rng: np.random.Generator) -> None:
    table = Table(f"4. T = 52, fractional time-varying capacities, backlog, {n} instances (optimum: MIP, the only exact method)")
    for i in range(n):
        d, s, h = single_item(rng, 52)
        cap = rng.uniform(1.1, 2.0, 52) * max(d.mean(), 1.0)
        b = rng.uniform(2.0, 6.0, 52)
        opt = timed_optimum(exact_lot_sizing, d, s, h, cap, b).cost
        table.run("MIP (exact)", opt, exact_lot_sizing, d, s, h, cap, b)
        heuristics(table, opt, i, d, s, h, cap, b)
    table.print()


def supplier_instance(rng: np.random.Generator, tight: bool):
    """A feasible multi-supplier instance (redrawn until the suppliers can serve the requirement)."""
    while True:
        T, K = 12, int(rng.integers(2, 4))
        r = rng.integers(0, 101, T).astype(float)
        suppliers = [
            Supplier(lead_time=int(rng.integers(0, 3)), unit_price=float(rng.uniform(1, 3)),
                     order_cost=float(rng.uniform(20, 200)),
                     capacity=float(rng.uniform(0.6, 1.4) * r.mean()) if tight
                     else float(np.inf if rng.random() < 0.5 else rng.uniform(1.5, 3) * r.mean()))
            for _ in range(K)
        ]
        h, init = float(rng.uniform(0.2, 1.0)), float(r[:2].sum())  # stock for what no lead time reaches
        try:
            return r, suppliers, h, init, timed_optimum(exact_multi_supplier, r, suppliers, h, init)
        except UserError:
            continue


def single_supplier_feasible(r, sups, k, h, init) -> bool:
    try:
        single_supplier_plan(r, sups, k, h, init)
        return True
    except UserError:  # this supplier alone cannot deliver in time
        return False


def best_single_supplier(r, sups, h, init):
    """The cheapest plan that buys everything from one supplier (each lot-sized exactly)."""
    plans = [single_supplier_plan(r, sups, k, h, init) for k in range(len(sups)) if single_supplier_feasible(r, sups, k, h, init)]
    return min(plans, key=lambda p: p.cost)


def multi_supplier(n: int, rng: np.random.Generator, tight: bool) -> None:
    label = "6. Multi-supplier, tight capacity (0.6..1.4x mean)" if tight else "5. Multi-supplier"
    table = Table(f"{label}, T=12, 2-3 suppliers, {n} instances (optimum: MIP)")
    for _ in range(n):
        r, sups, h, init, opt = supplier_instance(rng, tight)
        table.run("MIP (exact)", opt.cost, exact_multi_supplier, r, sups, h, init)
        table.run("DALSA (phase 2 exact)", opt.cost, dalsa, r, sups, h, init)
        table.run("DALSA (phase 2 zio)", opt.cost, dalsa, r, sups, h, init, phase2="zio")
        if any(single_supplier_feasible(r, sups, k, h, init) for k in range(len(sups))):
            table.run("best single supplier", opt.cost, best_single_supplier, r, sups, h, init)
    table.print()


def fixtures(n: int, rng: np.random.Generator) -> None:
    """The MIP and the DPs against an enumeration of every whole-unit plan on tiny instances."""
    agree = {"MIP": 0, "inventory-level DP": 0, "florian_klein": 0, "backlogging_wagner_whitin (vs MIP)": 0}
    counted = dict.fromkeys(agree, 0)
    for i in range(n):
        T = int(rng.integers(3, 6))
        d = rng.integers(0, 4, T).astype(float)
        constant = i % 3 == 0
        cap = np.full(T, float(rng.integers(1, 4))) if constant else rng.integers(1, 4, T).astype(float)
        s, h = rng.uniform(1, 10, T).round(2), rng.uniform(0.1, 2, T).round(2)
        b = rng.uniform(0.5, 4, T).round(2) if i % 2 else None
        best = np.inf
        for x in itertools.product(*[range(int(c) + 1) for c in cap]):
            if sum(x) == d.sum():
                try:
                    best = min(best, plan_cost(d, np.array(x, float), s, h, b, 0.0, cap))
                except UserError:
                    pass
        if not np.isfinite(best):
            continue
        solvers = {"MIP": lambda: exact_lot_sizing(d, s, h, cap, b), "inventory-level DP": lambda: inventory_dp_lot_sizing(d, s, h, cap, b)}
        if constant and b is None:
            solvers["florian_klein"] = lambda: florian_klein(d, s, h, cap[0])
        if b is not None:  # uncapacitated: against the MIP (itself checked against enumerations above)
            counted["backlogging_wagner_whitin (vs MIP)"] += 1
            with quiet_stdout():
                mip = exact_lot_sizing(d, s, h, None, b).cost
            agree["backlogging_wagner_whitin (vs MIP)"] += abs(backlogging_wagner_whitin(d, s, h, b).cost - mip) <= 1e-9
        for name, solve in solvers.items():
            counted[name] += 1
            with quiet_stdout():
                agree[name] += abs(solve().cost - best) <= 1e-9
    print("\nFixtures: tiny whole-unit instances (T 3..5, capacities 1..3), every order vector enumerated")
    for name in agree:
        print(f"  {name:<36s} equal on {agree[name]} / {counted[name]} fixtures")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100, help="random instances per class")
    parser.add_argument("--seed", type=int, default=0, help="seed of the instance generator")
    parser.add_argument("--fixtures", type=int, default=200, help="tiny instances checked by enumeration")
    args = parser.parse_args()
    if args.instances < 1 or args.fixtures < 0:
        raise UserError(f"--instances must be >= 1 and --fixtures >= 0, got {args.instances} and {args.fixtures}")
    print(f"lot-sizing gaps: {args.instances} instances per class, seed {args.seed}, GA defaults {GAConfig()}")
    uncapacitated(args.instances, np.random.default_rng([args.seed, 1]))
    capacitated(args.instances, np.random.default_rng([args.seed, 2]))
    backlogging(args.instances, np.random.default_rng([args.seed, 3]))
    long_fractional(max(1, args.instances // 10), np.random.default_rng([args.seed, 4]))  # the GA takes ~1 min each
    multi_supplier(args.instances, np.random.default_rng([args.seed, 5]), tight=False)
    multi_supplier(args.instances, np.random.default_rng([args.seed, 6]), tight=True)
    fixtures(args.fixtures, np.random.default_rng([args.seed, 7]))
    return 0


if __name__ == "__main__":
    run_cli(main)
