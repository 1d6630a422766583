"""The checks every config value passes once, when it is loaded (``utils.config.validate`` calls them).

* ``parse_yaml``: YAML text (or bytes that must be UTF-8) to data, refusing a key given twice in one
  mapping (PyYAML's own loader keeps the last one without a word).
* ``check_limits``: bounds that types alone cannot express and that ``validate``'s range checks leave
  open (``utils.config`` itself refuses non-finite numbers and integers beyond int64): costs and prices
  non-negative, seeds in 0..2**63-1, a run name that stays a single folder name, network node and edge numbers, and sizes whose memory fits the machine.
* ``estimate_memory_bytes``: the largest arrays a training run allocates (rollout buffer, whole-batch
  action logits, actor output layers with their Adam moments, env state, validation demand), computed
  from the config before anything is allocated, so ``train.n_envs=1000000000000`` is a one-line error
  naming the keys rather than a MemoryError traceback minutes later.
"""
from __future__ import annotations

import dataclasses
import os
import re
from typing import Any

import yaml

from utils.errors import UserError

#: largest seed: torch.Generator.manual_seed and numpy's SeedSequence both take any value below it
MAX_SEED = 2**63 - 1
#: largest cost or price per unit (or per order): an episode's cost sums units (up to 10**12 per demand value)
#: times costs over its periods, and this keeps that sum, and the rewards built from it, far from float64's range
MAX_UNIT_COST = 1e9
#: a run name becomes a folder name under out_dir: letters, digits, '.', '_' and '-', not starting with '.'
RUN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")


# ----------------------------------------------------------------------------------------------
# YAML
# ----------------------------------------------------------------------------------------------
class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice."""


def _construct_unique_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, (str, int, float, bool)):
            continue  # unhashable or exotic keys are refused later, by the config's key check
        if key in seen:
            raise UserError(
                f"key '{key}' is given twice (lines {seen[key]} and {line}); keep one, otherwise one of them would be ignored"
            )
        seen[key] = line
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def parse_yaml(content: str | bytes, source: str) -> Any:
    """YAML text (bytes are decoded as UTF-8) -> data; bad encoding, bad syntax, repeated keys: UserError.

    source: names the text in messages (a file path, or "--set 'key=value'").
    """
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError as err:
            raise UserError(
                f"{source}: not UTF-8 text (byte {err.start} cannot be decoded); save the file as UTF-8"
            ) from None
    try:
        return yaml.load(content, Loader=UniqueKeyLoader)
    except UserError as err:
        raise UserError(f"{source}: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"{source}: not valid YAML{where}; fix the syntax") from None
    except (ValueError, OverflowError, RecursionError) as err:  # e.g. a timestamp out of range, deep nesting
        raise UserError(f"{source}: a value cannot be read ({type(err).__name__}); fix the syntax") from None


# ----------------------------------------------------------------------------------------------
# Limits
# ----------------------------------------------------------------------------------------------
def _seeds(obj: Any, prefix: str = "") -> list[tuple[str, int]]:
    """(dotted key, value) of every integer field named ``seed`` or ``*_seed`` in a config tree."""
    out = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out += _seeds(value, f"{prefix}{f.name}.")
        elif (f.name == "seed" or f.name.endswith("_seed")) and isinstance(value, int):
            out.append((f"{prefix}{f.name}", value))
    return out


def _check_cost_scale(value: float, key: str, source: str) -> None:
    if value > MAX_UNIT_COST:
        raise UserError(f"{source}: '{key}' is {value:g}; costs and prices must be at most {MAX_UNIT_COST:g} (rescale the units)")


def check_limits(config: Any, source: str) -> None:
    """Bounds on an ExperimentConfig beyond the range checks of ``utils.config.validate``."""
    env, s = config.env, config.env.serial
    for key in ("holding_cost", "backlog_cost", "unit_order_cost", "discount_factors"):
        for i, v in enumerate(getattr(s, key)):
            if v < 0:
                raise UserError(f"{source}: 'env.serial.{key}[{i}]' is {v}; costs and prices must be >= 0")
            _check_cost_scale(v, f"env.serial.{key}[{i}]", source)
    _check_cost_scale(s.fixed_order_cost, "env.serial.fixed_order_cost", source)
    for i, node in enumerate(env.network.nodes):
        for key in ("holding_cost", "shortage_cost"):
            if getattr(node, key) < 0:
                raise UserError(f"{source}: 'env.network.nodes[{i}].{key}' is {getattr(node, key)}; costs must be >= 0")
            _check_cost_scale(getattr(node, key), f"env.network.nodes[{i}].{key}", source)
        if node.initial_on_hand < 0 or node.initial_pipeline < 0:
            raise UserError(f"{source}: 'env.network.nodes[{i}]' initial stock must be >= 0")
        if node.customer_stream < -1:
            raise UserError(f"{source}: 'env.network.nodes[{i}].customer_stream' is {node.customer_stream}; give -1 (none) or 0, 1, ...")
    for i, edge in enumerate(env.network.edges):
        if edge.shipping_cost < 0:
            raise UserError(f"{source}: 'env.network.edges[{i}].shipping_cost' is {edge.shipping_cost}; costs must be >= 0")
        _check_cost_scale(edge.shipping_cost, f"env.network.edges[{i}].shipping_cost", source)
        if edge.lead_time < 1:
            raise UserError(f"{source}: 'env.network.edges[{i}].lead_time' is {edge.lead_time}; it must be at least 1")
    if env.network.max_order_per_supplier < 1:
        raise UserError(
            f"{source}: 'env.network.max_order_per_supplier' is {env.network.max_order_per_supplier}; it must be at least 1"
        )
    if env.obs_demand_history < 0 or env.obs_shared_demand < 0:
        raise UserError(f"{source}: env.obs_demand_history and env.obs_shared_demand must be >= 0 (0 = off)")
    if config.demand.validation_episodes < 1:
        raise UserError(f"{source}: 'demand.validation_episodes' is {config.demand.validation_episodes}; it must be at least 1")
    if config.demand.stationary_mean < 0 or config.demand.merton_jump_rate < 0 or config.demand.merton_scale < 0 \
            or config.demand.merton_jump_sd < 0:
        raise UserError(f"{source}: demand.stationary_mean, merton_jump_rate, merton_scale and merton_jump_sd must be >= 0")
    for key, seed in _seeds(config):
        if not 0 <= seed <= MAX_SEED:
            raise UserError(f"{source}: '{key}' is {seed}; a seed must be between 0 and 2**63-1")
    if not RUN_NAME.fullmatch(config.name):
        raise UserError(
            f"{source}: 'name' is {config.name!r}; a run name becomes a folder name under out_dir: use letters, "
            "digits, '.', '_' and '-' (no '/', not starting with '.')"
        )
    check_memory(config, source)


# ----------------------------------------------------------------------------------------------
# Memory
# ----------------------------------------------------------------------------------------------
def available_memory_bytes() -> int:
    """Memory a new allocation can get: MemAvailable on Linux, else the physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**40  # unknown: only absurd sizes are refused


def estimate_memory_bytes(config: Any) -> dict[str, int]:
    """Bytes of the largest allocations of a training run, by the config keys that size them.

    A lower estimate (each array counted once, Python and torch overheads left out): a config above the
    machine's memory surely fails, one below it may still be slow.
    """
    env, t = config.env, config.train
    if env.kind == "serial":
        n_agents, n_dims, n_choices = env.serial.n_stages, 1, env.order_cap + 1
        lead = list(env.serial.lead_time) * (env.serial.n_stages if len(env.serial.lead_time) == 1 else 1)
        slots, n_streams = sum(lead), 1
    else:
        net = env.network
        nodes = net.nodes or [None] * 6  # the paper_2x3 preset: 6 nodes, 2 suppliers each, lead times 4 and 2
        edges = [(e.customer, e.lead_time) for e in net.edges] or [(i, L) for i in range(6) for L in (4, 2)]
        n_agents, n_choices = len(nodes), net.max_order_per_supplier + 1
        per_node: dict[Any, list[int]] = {}
        for customer, L in edges:
            per_node.setdefault(customer, []).append(L)
        n_dims = max((len(v) for v in per_node.values()), default=1)
        slots = sum(sum(v) for v in per_node.values())
        n_streams = max(1, sum(1 for n in net.nodes if n.customer_stream >= 0)) if net.nodes else 2
    obs_dim = 8 + slots + env.obs_demand_history + env.obs_shared_demand * n_streams
    B, T, V = t.n_envs, env.episode_length, config.demand.validation_episodes
    width = t.hidden_sizes[-1] if t.hidden_sizes else 64
    hidden = sum(a * b for a, b in zip([obs_dim] + t.hidden_sizes[:-1], t.hidden_sizes))
    return {
        # observations and global states of every step of an iteration (float32), plus rewards, values, actions
        "rollout buffer: train.n_envs x env.episode_length x observation size (lead times, env.obs_* history)": 4 * T * B * n_agents * (2 * obs_dim + 8),
        # the whole batch's action logits, log-softmax and gathered log-probabilities of one agent
        "action logits: train.n_envs x env.episode_length x order cap": 4 * 3 * T * B * n_dims * n_choices,
        # every actor's layers with gradient and two Adam moments (4 copies, float32)
        "actor weights: train.hidden_sizes x order cap": 16 * n_agents * (hidden + width * n_dims * n_choices),
        # env state: pipelines, stock, demand of the episode (int64), for training and validation envs
        "env state: train.n_envs x lead times": 8 * (B + V) * n_agents * (slots + obs_dim + 16),
        "demand paths: (train.n_envs + demand.validation_episodes) x env.episode_length": 8 * 4 * (B + V) * (T + 1) * n_streams,
    }


def check_memory(config: Any, source: str) -> None:
    """UserError naming the largest allocation when the estimate exceeds the memory available now."""
    parts = estimate_memory_bytes(config)
    total, available = sum(parts.values()), available_memory_bytes()
    if total > available:
        biggest = max(parts, key=parts.get)
        raise UserError(
            f"{source}: the config needs at least {total / 2**30:,.1f} GiB (mostly the {biggest}: "
            f"{parts[biggest] / 2**30:,.1f} GiB) but {available / 2**30:,.1f} GiB are available; lower those sizes"
        )


# ----------------------------------------------------------------------------------------------
# Resuming a run
# ----------------------------------------------------------------------------------------------
#: config keys a resumed run may change: none of them alters what the run has computed so far
#: (a longer budget extends it; threads change speed only)
RESUMABLE_KEYS = ("train.total_env_steps", "train.torch_threads")


def _flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def resume_changes(stored: dict, given: dict, source: str) -> dict[str, list]:
    """The changes {key: [stored value, given value]} a resume asks for; a change that would invalidate
    the run (any key but RESUMABLE_KEYS, or a budget shorter than the stored one) is a UserError.

    stored, given: plain config dicts (``config_to_dict``). A rule the run tuned itself
    (``residual.params`` stored, empty in the given config) is not a change.
    """
    old, new = _flatten(stored), _flatten(given)
    if not new.get("residual.params") and old.get("residual.params"):
        new["residual.params"] = old["residual.params"]
    keys = ["env.kind"] + [k for k in {**old, **new} if k != "env.kind"]  # the kind first: it explains the rest
    changes = {k: [old.get(k), new.get(k)] for k in keys if old.get(k) != new.get(k)}
    for key, (before, after) in changes.items():
        if key not in RESUMABLE_KEYS:
            raise UserError(
                f"{source}: '{key}' is {after!r} but the run used {before!r}; a resumed run keeps its config "
                f"(only {', '.join(RESUMABLE_KEYS)} may change): start a new run to change it"
            )
    budget = changes.get("train.total_env_steps")
    if budget and budget[1] < budget[0]:
        raise UserError(
            f"{source}: 'train.total_env_steps' is {budget[1]} but the run was set to {budget[0]}; a resumed run "
            "may get a longer budget, not a shorter one"
        )
    return changes
