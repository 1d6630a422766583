"""Tuning a baseline's parameters by simulation: every candidate of a coordinate move runs in one batch."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from agents.baselines.common import DemandSummary, ParamSpace
from agents.baselines.registry import POLICIES, make_baseline
from agents.rollout import rollout
from envs import make_env
from utils.config import BaselinesConfig, EnvConfig, ExperimentConfig, PlannerConfig
from utils.data_loader import sample_demand
from utils.files import write_text_atomic
from utils.logger import Progress, info


@dataclass
class TuneResult:
    """A tuned baseline."""

    name: str  # policy name
    params: np.ndarray  # (P,) best parameter values found
    param_names: list[str]  # what each value is
    mean_cost: float  # mean chain cost per episode on the tuning demand
    n_candidates: int  # parameter sets simulated
    seconds: float  # wall time of the search (of the original search when read from the cache)
    cached: bool = False  # read from the tuning cache instead of searched again


def candidate_costs(
    name: str, params: np.ndarray, env_config: EnvConfig, demand: np.ndarray, seed: int = 0,
    planner: PlannerConfig | None = None, planner_answers: dict | None = None,
) -> np.ndarray:
    """Mean chain cost per episode of K parameter sets on the same demand paths, simulated as one batch.

    params (K, P), demand (M, T, S) -> (K,). Every candidate faces the same demand paths (common random
    numbers); shipping-loss draws, when on, come from the env's generator seeded with `seed`, so they are
    the same run to run but differ between candidates. planner: place the rule's orders through the
    hybrid planner (a rule meant to run with it is tuned with it); planner_answers: the planner's cache
    of solved rows, shared between calls (the planner's answers depend on a row's inputs only).
    """
    K, M = params.shape[0], demand.shape[0]
    env = make_env(env_config, n_envs=K * M)
    policy = make_baseline(name, np.repeat(params, M, axis=0))  # candidate k owns envs k*M .. k*M+M-1
    if planner is not None and planner.enabled:
        from agents.planner_wrapper import OrderPlanner, PlannedPolicy  # only planned rules need the lot sizers

        order_planner = OrderPlanner(planner, env)
        if planner_answers is not None:
            order_planner.cache = planner_answers
        policy = PlannedPolicy(policy, order_planner)
    cost = rollout(policy, env, np.tile(demand, (K, 1, 1)), seed=seed, record=False)  # (K*M, N)
    return cost.sum(axis=1).reshape(K, M).mean(axis=1)


def coordinate_search(
    evaluate: Callable[[np.ndarray], np.ndarray],
    space: ParamSpace,
    max_sweeps: int = 40,
    width: int = 3,
    n_random_starts: int = 31,
    rng: np.random.Generator | None = None,
    on_sweep: Callable[[int, float, int], None] | None = None,
) -> tuple[np.ndarray, float, int]:
    """Minimise evaluate over the grid of ``space`` by coordinate search with shrinking steps.

    The search starts from the best of the textbook start and ``n_random_starts`` uniform grid points
    (one batched call), which keeps it out of the poor local minima a coupled parameter (a smoothing
    constant, an (s, S) pair) can create. Each move tries, for one parameter, the 2*width values at
    +-1..width steps in one batched call, and keeps the best if it lowers the cost. A sweep visits every
    parameter; when a sweep improves nothing the steps halve, and the search ends when a sweep at step 1
    improves nothing. evaluate: (K, P) values -> (K,) costs. Returns best values (P,), best cost,
    candidates simulated. on_sweep(sweeps done, best cost, candidates so far) is called after every sweep
    (progress reports).
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
    # first steps cover about a quarter of each grid per side, so early sweeps cross the grid fast and the
    # halving steps then refine (why width 3: docs/design_notes.md)
    steps = np.array([max(1, len(v) // (4 * width)) for v in space.values])
    for sweep in range(max_sweeps):
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
        if on_sweep is not None:
            on_sweep(sweep + 1, best, n_evals)
        if not improved:
            if steps.max() == 1:
                break
            steps = np.maximum(1, steps // 2)
    return space.value_of(x[None])[0], best, n_evals


def tune(
    name: str, env_config: EnvConfig, demand: np.ndarray, max_sweeps: int = 40, seed: int = 0,
    cache_dir: str | Path | None = None, log: Callable[[str], None] = info, planner: PlannerConfig | None = None,
) -> TuneResult:
    """Fit one baseline's parameters by simulation on `demand` (M, T, S) (coordinate search, batched).

    planner: tune the rule with its orders placed through the hybrid planner (its settings), as it will
    run; None or a planner that is not enabled: the rule alone.

    cache_dir: a folder of earlier results; the search is deterministic, so a result found there for the same
    policy, env config, demand paths, search settings and simulation code is returned instead of searching
    again (a network search takes minutes, and every evaluation and residual training starts with one).
    log: where progress goes (at most every 10 s, with the time left if all ``max_sweeps`` sweeps ran;
    the search usually stops earlier).
    """
    if cache_dir:
        path = Path(cache_dir) / f"{name}-{_tuning_key(name, env_config, demand, max_sweeps, seed, planner)}.json"
        if path.is_file():
            try:
                stored = json.loads(path.read_text(encoding="utf-8"))
                return TuneResult(**dict(stored, params=np.array(stored["params"], dtype=np.float64), cached=True))
            except (ValueError, TypeError, KeyError):
                pass  # a damaged entry is searched again and rewritten
        result = tune(name, env_config, demand, max_sweeps, seed, log=log, planner=planner)
        stored = dict(dataclasses.asdict(result), params=result.params.tolist())
        del stored["cached"]
        write_text_atomic(path, json.dumps(stored, indent=1))
        return result
    start = time.perf_counter()
    probe = make_env(env_config, n_envs=1)
    space = POLICIES[name].param_space(probe, DemandSummary.of(demand))
    answers: dict = {}
    evaluate = lambda X: candidate_costs(name, X, env_config, demand, seed, planner, answers)  # noqa: E731
    if not space.values:
        cost = float(evaluate(np.zeros((1, 0)))[0])
        return TuneResult(name, np.zeros(0), [], cost, 1, time.perf_counter() - start)
    progress = Progress(max_sweeps, f"tuning {name}: sweep", log, every_s=10.0)
    report = lambda k, best, n: progress.update(k, f"(at most) best cost {best:,.1f}, {n} candidates")  # noqa: E731
    params, cost, n = coordinate_search(evaluate, space, max_sweeps, rng=np.random.default_rng(seed), on_sweep=report)
    return TuneResult(name, POLICIES[name].canonical(params), space.names, cost, n, time.perf_counter() - start)


def tuning_demand(config: ExperimentConfig, baseline_config: BaselinesConfig, n_streams: int) -> np.ndarray:
    """Demand paths from the training generator, seeded by ``tune_seed`` (never the test files).  (M, T, S)"""
    rng = np.random.default_rng(baseline_config.tune_seed)
    return sample_demand(config.demand, rng, baseline_config.tune_paths, config.env.episode_length, n_streams)


def _tuning_key(name: str, env_config: EnvConfig, demand: np.ndarray, max_sweeps: int, seed: int,
                planner: PlannerConfig | None = None) -> str:
    """A digest of everything a tuning result depends on, the simulation code included (16 hex digits).

    The env's training reward mix and observation options are left out: a rule acts on the env's state and is
    scored by its costs, so neither changes its tuning, and an ablation over them reuses one tuned rule."""
    env = {k: v for k, v in dataclasses.asdict(env_config).items() if k != "reward_alpha" and not k.startswith("obs_")}
    digest = hashlib.sha256()
    digest.update(json.dumps([name, env, max_sweeps, seed], sort_keys=True).encode())
    digest.update(np.ascontiguousarray(demand, dtype=np.int64).tobytes())
    digest.update(str(demand.shape).encode())
    root = Path(__file__).resolve().parents[2]
    sources = [*root.glob("agents/baselines/*.py"), root / "agents/rollout.py", *root.glob("envs/*.py")]
    if planner is not None and planner.enabled:
        digest.update(json.dumps(dataclasses.asdict(planner), sort_keys=True).encode())
        sources += [root / "agents/planner_wrapper.py", *root.glob("lot_sizing/*.py")]
    for source in sorted(sources):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]
