"""Draw the project's test demand sets from test_data/config.yaml (bit for bit reproducible).

    python test_data/generate_test_data.py            # (re)write every folder listed in config.yaml
    python test_data/generate_test_data.py --check    # only compare the folders with a fresh draw
    python test_data/generate_test_data.py --only merton_network

Each set is ``sample_demand(demand_config, numpy.random.default_rng(seed), n_files, periods,
n_streams)`` written with ``write_demand_folder``; nothing else touches the numbers. A set's demand config
is the file's ``demand:`` section (the one every preset inherits) with the set's own ``demand:`` keys on top.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from utils.config import DemandConfig, config_from_dict, read_yaml_file
from utils.config_inheritance import deep_merge, read_config_data
from utils.data_loader import read_demand_folder, sample_demand, write_demand_folder
from utils.errors import UserError, run_cli

#: The description of the project's test sets, next to this script.
DEFAULT_CONFIG = Path(__file__).resolve().parent / "config.yaml"


@dataclass
class TestSetSpec:
    """One test set: which generator, which seed, how many episodes of how many periods."""

    __test__ = False  # not a pytest test class despite the name

    name: str = ""  # short name used in messages and by --only
    folder: str = ""  # output folder, relative to the config file
    seed: int = 0  # seed of numpy.random.default_rng for this set alone
    n_files: int = 50  # episodes (one file each, per stream)
    periods: int = 200  # values per file
    n_streams: int = 1  # customer streams: 1 = serial folder, k > 1 = network folder with k sub-folders
    demand: DemandConfig = field(default_factory=DemandConfig)  # generator and its parameters (the file's demand: with the set's keys on top)


@dataclass
class TestSetsFile:
    """The whole config file: a list of test sets."""

    __test__ = False

    test_sets: list[TestSetSpec] = field(default_factory=list)  # every set the project ships


REQUIRED_KEYS = ("name", "folder", "seed", "n_files", "periods", "n_streams")


def load_test_set_specs(path: str | Path = DEFAULT_CONFIG) -> list[TestSetSpec]:
    """Read and check the test-set config; folders become absolute (relative to the config file)."""
    path = Path(path)
    data = read_yaml_file(path, "test-set config", "test_data/config.yaml")
    experiment = read_config_data(path, read_yaml_file)  # env: and demand: (checked as an experiment config), base: merged in
    config_from_dict(experiment, str(path))
    items = data.get("test_sets") if isinstance(data, dict) else None
    for i, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            raise UserError(f"{path}: test_sets[{i}] must be a mapping with keys {', '.join(REQUIRED_KEYS)}")
        missing = [k for k in REQUIRED_KEYS if k not in item]
        if missing:
            raise UserError(f"{path}: test_sets[{i}] lacks '{missing[0]}'; give every set {', '.join(REQUIRED_KEYS)}")
        if not isinstance(item.get("demand") or {}, dict):
            raise UserError(f"{path}: test_sets[{i}].demand must be a mapping of demand keys (or {{}})")
    sets = [deep_merge(item, {"demand": deep_merge(experiment.get("demand") or {}, item.get("demand") or {})})
            for item in items or [] if isinstance(item, dict)]
    specs = config_from_dict({"test_sets": sets}, str(path), TestSetsFile).test_sets
    if not specs:
        raise UserError(f"{path}: no test_sets listed; add at least one")
    for spec in specs:
        if min(spec.n_files, spec.periods, spec.n_streams) < 1:
            raise UserError(f"{path}: test set '{spec.name}' needs n_files, periods and n_streams of at least 1")
        spec.folder = str((path.parent / spec.folder).resolve())
    for key in ("name", "folder"):
        values = [getattr(s, key) for s in specs]
        if len(set(values)) != len(values):
            raise UserError(f"{path}: two test sets share a {key}; give each set its own")
    return specs


def generate_test_set(spec: TestSetSpec) -> np.ndarray:
    """The demand of one test set, drawn afresh: ``(n_files, periods, n_streams)`` int64."""
    rng = np.random.default_rng(spec.seed)
    return sample_demand(spec.demand, rng, spec.n_files, spec.periods, spec.n_streams)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="test-set description (YAML)")
    parser.add_argument("--only", action="append", default=[], help="name of a set to process (repeatable)")
    parser.add_argument("--check", action="store_true", help="compare the folders with a fresh draw; write nothing")
    args = parser.parse_args()

    specs = load_test_set_specs(args.config)
    unknown = sorted(set(args.only) - {s.name for s in specs})
    if unknown:
        raise UserError(f"--only {unknown[0]}: no such test set; known: {', '.join(s.name for s in specs)}")
    mismatched = 0
    for spec in specs:
        if args.only and spec.name not in args.only:
            continue
        demand = generate_test_set(spec)  # (n_files, periods, n_streams)
        if args.check:
            stored = read_demand_folder(spec.folder).demand
            same = stored.shape == demand.shape and bool(np.array_equal(stored, demand))
            mismatched += not same
            print(f"{spec.name}: {spec.folder} {'matches' if same else 'DIFFERS from'} a fresh draw {demand.shape}")
        else:
            write_demand_folder(spec.folder, demand)
            print(f"{spec.name}: wrote {demand.shape[0]} files x {demand.shape[1]} periods x "
                  f"{demand.shape[2]} stream(s) to {spec.folder}; mean {demand.mean():.3f}")
    return 1 if mismatched else 0


if __name__ == "__main__":
    run_cli(main)
