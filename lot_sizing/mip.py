"""Fixed-charge mixed-integer programs solved by HiGHS, with setups read from the binary variables.

A lot-sizing MIP links each order x to a setup y in {0, 1} by x <= M y. HiGHS accepts a binary as
integral within a tolerance (about 1e-6), so a solution may carry an order of ~1e-7 whose setup is
~1e-7: cutting such dust from the orders afterwards, or keeping it, gives a plan that either breaks
the balance or pays a setup the MIP never paid. :func:`solve_fixed_charge` therefore reads the setups
from the binaries (rounded to 0 or 1), fixes them, and re-solves the remaining linear program (a
min-cost flow once the setups are fixed): the orders it returns are exact for those setups, and
an order is placed only where a setup is open.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp


def solve_fixed_charge(
    cost: np.ndarray,
    matrix,
    lower: np.ndarray,
    upper: np.ndarray,
    var_upper: np.ndarray,
    binaries: np.ndarray,
    time_limit: Optional[float],
    what: str,
) -> np.ndarray:
    """Minimise cost @ v s.t. lower <= matrix @ v <= upper, 0 <= v <= var_upper, v[binaries] in {0, 1}.

    cost, var_upper: (n,); matrix: sparse (m, n); lower, upper: (m,); binaries: int indices of the
    setup variables. Returns v (n,) with the binaries exactly 0 or 1 and the rest from the LP with
    those setups fixed. ``time_limit`` bounds the MIP; a ``RuntimeError`` naming `what` says so when
    HiGHS stops before proving optimality, rather than returning a plan not known to be optimal.
    """
    options = {"mip_rel_gap": 1e-9}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    integrality = np.zeros(cost.size)
    integrality[binaries] = 1
    constraints = LinearConstraint(matrix, lower, upper)
    res = milp(cost, constraints=constraints, integrality=integrality,
               bounds=Bounds(np.zeros(cost.size), var_upper), options=options)
    if res.status != 0 or res.x is None:
        raise RuntimeError(f"HiGHS did not prove an optimal {what}: {res.message}")
    setups = np.rint(res.x[binaries])
    fixed_lower, fixed_upper = np.zeros(cost.size), var_upper.copy()
    fixed_lower[binaries] = fixed_upper[binaries] = setups
    lp = milp(cost, constraints=constraints, bounds=Bounds(fixed_lower, fixed_upper))
    if lp.status != 0 or lp.x is None:
        raise RuntimeError(f"the {what} is infeasible with the MIP's rounded setups: {lp.message}")
    v = lp.x
    v[binaries] = setups
    return v
