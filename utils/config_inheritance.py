"""Config inheritance: an experiment YAML names the file it builds on and states only what differs.

    base: ../test_data/config.yaml   # relative to the file that names it

``test_data/config.yaml`` holds the environment (stages, lead times, holding, backorder and fixed costs,
price discounts, shipping loss, the network) and the demand generator's parameters; the presets in
``configs/`` build on it. Merging: a mapping in the file is merged key by key (recursively) into the
base's; any other value, lists included, replaces the base's. A base may have a base of its own; a cycle
is an error. Keys that describe something other than one experiment (``test_sets``: the sets the test-set
generator draws) are left out of the merged experiment. ``save_config`` writes the merged, resolved config,
so a run folder and a model file never depend on the base file staying the same.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Callable

from utils.errors import UserError

#: the key that names the file a config builds on
BASE_KEY = "base"
#: keys of a base file that are not part of an experiment (test_data/config.yaml lists its test sets)
NOT_EXPERIMENT_KEYS = ("test_sets",)


def deep_merge(base: dict, override: dict) -> dict:
    """`base` with `override` on top: mappings merge key by key, everything else (lists too) is replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_config_data(path: str | os.PathLike, read_yaml: Callable[[Path, str, str], Any], _chain: tuple[Path, ...] = ()) -> dict:
    """The experiment keys of a config file with its ``base:`` chain merged in (plain data, not yet validated).

    read_yaml: ``utils.config.read_yaml_file`` (path, what, example) -> parsed content, passed in so this module
    needs nothing from utils.config, which calls it from ``load_config``."""
    path = Path(path)
    what = "base config" if _chain else "config file"
    data = read_yaml(path, what, "configs/train_serial.yaml")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
    data = {k: v for k, v in data.items() if k not in NOT_EXPERIMENT_KEYS}
    base = data.pop(BASE_KEY, None)
    if base is None:
        return data
    if not isinstance(base, str) or not base.strip():
        raise UserError(f"{path}: '{BASE_KEY}' must be the path of a YAML file, e.g. base: ../test_data/config.yaml")
    base_path = (path.parent / base).resolve()
    chain = _chain + (path.resolve(),)
    if base_path in chain:
        raise UserError(f"{path}: '{BASE_KEY}: {base}' makes a cycle ({' -> '.join(p.name for p in chain + (base_path,))}); remove one base")
    if not base_path.is_file():
        raise UserError(f"{path}: base config '{base}' not found (looked for {base_path}); give a path relative to {path.parent}")
    return deep_merge(read_config_data(base_path, read_yaml, chain), data)
