"""Optimality gaps and speed of the lot-sizing heuristics on seeded random instances.

Prints, per instance class (``--instances`` random instances each, default 200):
- uncapacitated, T uniform in 12..52, time-varying and constant costs: the GA's and each classic
  rule's gap to Wagner-Whitin (mean, max, share of instances solved to optimality) and time per
  instance; also the GA without its local search, to show what the memetic step contributes;
- uncapacitated, T = 52: GA time per instance at the longest horizon;
- capacitated, T uniform in 12..24, without and with backlogging: the GA against ``exact_lot_sizing``;
- multi-supplier, T = 12, 2-3 suppliers: DALSA and the best naive single-supplier plan against the
  exact MIP, with DALSA's time per instance.

Usage: ``python benchmarks/lotsizing_gaps.py [--instances N] [--seed S]``
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lot_sizing import (  # noqa: E402
    GAConfig,
    Supplier,
    dalsa,
    exact_lot_sizing,
    exact_multi_supplier,
    memetic_lot_sizing,
    groff,
    least_unit_cost,
    lot_for_lot,
    part_period_balancing,
    silver_meal,
    single_supplier_plan,
    wagner_whitin,
)
from utils.errors import UserError, run_cli  # noqa: E402

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


class Gaps:
    """Collects relative gaps and run times of one method on one instance class."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self.seconds: list[float] = []

    def add(self, cost: float, optimum: float, seconds: float = float("nan")) -> None:
        gap = cost / optimum - 1.0
        # Solver round-off can put a plan a hair below the MIP's optimum; only that is clipped.
        self.gaps.append(0.0 if -1e-9 < gap < 0.0 else gap)
        self.seconds.append(seconds)

    def row(self, name: str) -> str:
        g = np.array(self.gaps)
        s = np.array(self.seconds)
        timing = "" if np.all(np.isnan(s)) else f"  {1e3 * np.nanmean(s):9.2f}  {1e3 * np.nanmax(s):9.2f}"
        return f"  {name:<28s} {100 * g.mean():8.3f}  {100 * g.max():8.3f}  {100 * np.mean(g <= OPTIMAL_TOL):7.1f}{timing}"


HEADER = f"  {'method':<28s} {'mean gap%':>8s}  {'max gap%':>8s}  {'optimal%':>7s}  {'mean ms':>9s}  {'max ms':>9s}"


def single_item_instance(rng: np.random.Generator, T: int, constant_costs: bool = False):
    """Integer demand 0..200 (about 15% zero periods), setup 50..500 and holding 0.5..2 per period
    (time-varying, or drawn once for all periods with ``constant_costs``)."""
    d = rng.integers(0, 201, T).astype(float)
    d[rng.random(T) < 0.15] = 0.0
    size = None if constant_costs else T
    return d, rng.uniform(50, 500, size), rng.uniform(0.5, 2.0, size)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def uncapacitated(n: int, rng: np.random.Generator, fixed_T: int | None, constant_costs: bool = False) -> None:
    label = f"T={fixed_T}" if fixed_T else "T in 12..52"
    costs = "constant" if constant_costs else "time-varying"
    print(f"\nUncapacitated single item, {label}, {costs} costs, {n} instances (gap to Wagner-Whitin)")
    print(HEADER)
    rules = {"silver_meal": silver_meal, "least_unit_cost": least_unit_cost,
             "part_period_balancing": part_period_balancing, "groff": groff, "lot_for_lot": lot_for_lot}
    ga, ga_plain, ww_time = Gaps(), Gaps(), []
    rule_gaps = {name: Gaps() for name in rules}
    for i in range(n):
        T = fixed_T or int(rng.integers(12, 53))
        d, s, h = single_item_instance(rng, T, constant_costs)
        opt, sec = timed(wagner_whitin, d, s, h)
        ww_time.append(sec)
        plan, sec = timed(memetic_lot_sizing, d, s, h, rng=np.random.default_rng(i))
        ga.add(plan.cost, opt.cost, sec)
        if not fixed_T:
            plan, sec = timed(memetic_lot_sizing, d, s, h, config=GAConfig(local_search=False),
                              rng=np.random.default_rng(i))
            ga_plain.add(plan.cost, opt.cost, sec)
            for name, rule in rules.items():
                rule_gaps[name].add(rule(d, s, h).cost, opt.cost)
    print(ga.row("GA (adaptive, memetic)"))
    if not fixed_T:
        print(ga_plain.row("GA without local search"))
        for name in rules:
            print(rule_gaps[name].row(name))
    print(f"  wagner_whitin: {1e3 * np.mean(ww_time):.2f} ms per instance")


def capacitated(n: int, rng: np.random.Generator, backlogging: bool) -> None:
    print(f"\nCapacitated single item, T in 12..24, {'with' if backlogging else 'no'} backlogging, "
          f"{n} instances (gap to exact_lot_sizing)")
    print(HEADER)
    ga, mip_time = Gaps(), []
    for i in range(n):
        T = int(rng.integers(12, 25))
        d, s, h = single_item_instance(rng, T)
        cap = rng.uniform(1.2, 2.5) * max(d.mean(), 1.0)
        b = rng.uniform(2.0, 6.0, T) if backlogging else None
        if not backlogging:  # keep every instance feasible: capacity covers cumulative demand
            cap = max(cap, float(np.max(np.cumsum(d) / np.arange(1, T + 1))))
        with quiet_stdout():
            opt, sec = timed(exact_lot_sizing, d, s, h, capacity=cap, backlog_cost=b)
        mip_time.append(sec)
        plan, sec = timed(memetic_lot_sizing, d, s, h, capacity=cap, backlog_cost=b, rng=np.random.default_rng(i))
        ga.add(plan.cost, opt.cost, sec)
    print(ga.row("GA (adaptive, memetic)"))
    print(f"  exact_lot_sizing (HiGHS MIP): {1e3 * np.mean(mip_time):.2f} ms per instance")


def multi_supplier(n: int, rng: np.random.Generator) -> None:
    print(f"\nMulti-supplier, T=12, 2-3 suppliers, {n} instances (gap to the exact MIP)")
    print(HEADER)
    dal, naive, mip_time = Gaps(), Gaps(), []
    for _ in range(n):
        T, K = 12, int(rng.integers(2, 4))
        r = rng.integers(0, 101, T).astype(float)
        suppliers = [
            Supplier(lead_time=int(rng.integers(0, 3)), unit_price=float(rng.uniform(1, 3)),
                     order_cost=float(rng.uniform(20, 200)),
                     capacity=float(np.inf if rng.random() < 0.5 else rng.uniform(1.5, 3) * r.mean()))
            for _ in range(K)
        ]
        h = float(rng.uniform(0.2, 1.0))
        init = float(r[:2].sum())  # covers the periods no lead time can reach
        with quiet_stdout():
            opt, sec = timed(exact_multi_supplier, r, suppliers, h, init)
        mip_time.append(sec)
        plan, sec = timed(dalsa, r, suppliers, h, init)
        dal.add(plan.cost, opt.cost, sec)
        singles = []
        for k in range(K):
            try:
                singles.append(single_supplier_plan(r, suppliers, k, h, init).cost)
            except UserError:  # this supplier alone cannot deliver in time
                pass
        if singles:
            naive.add(min(singles), opt.cost)
    print(dal.row("DALSA"))
    print(naive.row(f"best single supplier ({len(naive.gaps)})"))
    print(f"  exact_multi_supplier (HiGHS MIP): {1e3 * np.mean(mip_time):.2f} ms per instance")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=200, help="random instances per class")
    parser.add_argument("--seed", type=int, default=0, help="seed of the instance generator")
    args = parser.parse_args()
    if args.instances < 1:
        raise UserError(f"--instances must be >= 1, got {args.instances}")
    print(f"lot-sizing gaps: {args.instances} instances per class, seed {args.seed}, "
          f"GA defaults {GAConfig()}")
    uncapacitated(args.instances, np.random.default_rng([args.seed, 1]), None)
    uncapacitated(args.instances, np.random.default_rng([args.seed, 6]), None, constant_costs=True)
    uncapacitated(args.instances, np.random.default_rng([args.seed, 2]), 52)
    capacitated(args.instances, np.random.default_rng([args.seed, 3]), backlogging=False)
    capacitated(args.instances, np.random.default_rng([args.seed, 4]), backlogging=True)
    multi_supplier(args.instances, np.random.default_rng([args.seed, 5]))
    return 0


if __name__ == "__main__":
    run_cli(main)
