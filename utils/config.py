"""Experiment configuration: YAML files loaded into typed, validated dataclasses.

One YAML file describes one experiment. Loading it checks every key against the dataclasses below:
an unknown key (usually a typo) or a value of the wrong type is a ``UserError`` whose one-line
message names the key and the file. ``--set section.key=value`` overrides from the command line go
through the same checks. ``save_config`` writes the fully resolved config (defaults included) back
to YAML, so every run directory records exactly what produced it.

Every field carries a one-line comment: that comment is the documentation of the config key.
"""
from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from utils.config_inheritance import read_config_data  # base: inheritance
from utils.errors import UserError
from utils.files import write_text_atomic
from utils.validation import check_limits, parse_yaml, UniqueKeyLoader
from utils.meta_config import MetaConfig, validate_meta
from utils.policy_config import BaselinesConfig, ResidualConfig


# ----------------------------------------------------------------------------------------------
# Environment
# ----------------------------------------------------------------------------------------------
@dataclass
class SerialConfig:
    """A serial chain: stage 0 is the retailer, stage n_stages-1 buys from an unlimited supplier."""

    n_stages: int = 3  # number of stages in the chain
    lead_time: list[int] = field(default_factory=lambda: [4])  # periods from shipment to use, per stage (one value = all stages)
    holding_cost: list[float] = field(default_factory=lambda: [1.0])  # cost per unit on hand per period, per stage (one value = all)
    backlog_cost: list[float] = field(default_factory=lambda: [1.0])  # cost per unit backlogged (or lost at the retailer) per period, per stage
    initial_on_hand: int = 10  # units on hand at every stage at reset
    initial_pipeline: int = 10  # units in every pipeline slot of every stage at reset
    fixed_order_cost: float = 0.0  # charged in a period in which units enter the stage's pipeline (0 = off)
    discount_factors: list[float] = field(default_factory=list)  # all-units price factor per tier of the order (empty = no purchase cost)
    discount_tier_width: int = 5  # order quantities per discount tier: tier = order // width
    unit_order_cost: list[float] = field(default_factory=lambda: [1.0])  # list price per unit ordered, per stage (used only with discounts)
    max_loss_percent: int = 0  # shipping loss: each period a percentage 0..max is drawn per stage and lost on arrival (0 = off)
    lost_sales: bool = False  # unmet customer demand at the retailer is lost instead of backlogged


@dataclass
class NetworkNodeConfig:
    """One node of a supply network (an agent)."""

    name: str = ""  # unique node name, referenced by edges
    holding_cost: float = 1.0  # cost per unit on hand per period
    shortage_cost: float = 1.0  # cost per unit owed (or lost) per period
    initial_on_hand: int = 2  # units on hand at reset
    initial_pipeline: int = 2  # units in every pipeline slot at reset
    customer_stream: int = -1  # index of the customer demand stream this node serves directly (-1 = none)
    lost_sales: bool = False  # unmet demand of this node's customers is lost (True) or owed (False)


@dataclass
class NetworkEdgeConfig:
    """A supply relation: `customer` orders from `supplier` (an outside source when the name starts with 'outside')."""

    supplier: str = ""  # supplying node name, or 'outside...' for an unlimited outside source
    customer: str = ""  # receiving node name
    lead_time: int = 4  # periods from shipment to use
    shipping_cost: float = 0.0  # cost per unit shipped on this edge, paid by the customer


@dataclass
class NetworkConfig:
    """A directed acyclic supply network; empty `nodes` means the paper's 2x3 preset."""

    preset: Literal["paper_2x3", "custom"] = "paper_2x3"  # paper_2x3 = 3 levels x 2 nodes of Liu et al.; custom = the lists below
    nodes: list[NetworkNodeConfig] = field(default_factory=list)  # the agents, in agent order (custom only)
    edges: list[NetworkEdgeConfig] = field(default_factory=list)  # supply edges (custom only); a node's actions follow its edges' order
    max_order_per_supplier: int = 4  # each action dimension orders 0..this from one supplier
    allocation: Literal["last_customer_first", "first_customer_first", "proportional"] = "last_customer_first"  # how a short supplier splits stock among its customers (paper: last first)


@dataclass
class EnvConfig:
    """Which environment, and the options shared by the serial chain and the network."""

    kind: Literal["serial", "network"] = "serial"  # serial chain or DAG network
    episode_length: int = 200  # periods per episode (ends by truncation)
    order_cap: int = 20  # serial: orders are 0..order_cap; also the observation normaliser
    reward_alpha: float = 0.5  # training reward = -(alpha * own cost + (1 - alpha) * mean cost of all agents)
    obs_inventory_position: bool = False  # opt-in: add on-hand - backlog + pipeline to each observation
    obs_supplier_owed: bool = False  # opt-in: add the units the supplier owes this agent
    obs_time_left: bool = False  # opt-in: add the fraction of the episode left
    obs_demand_history: int = 0  # opt-in: add the demand each agent saw in this many earlier periods (0 = off)
    obs_shared_demand: int = 0  # opt-in information sharing: every agent sees the customer demand of the last k periods (0 = off)
    obs_echelon_position: bool = False  # opt-in information sharing (serial only): the stage's echelon inventory position
    serial: SerialConfig = field(default_factory=SerialConfig)  # serial-chain options (kind: serial)
    network: NetworkConfig = field(default_factory=NetworkConfig)  # network options (kind: network)


# ----------------------------------------------------------------------------------------------
# Demand
# ----------------------------------------------------------------------------------------------
@dataclass
class DemandConfig:
    """Where customer demand comes from: a generator for training, files for testing."""

    kind: Literal["merton", "stationary", "files"] = "merton"  # training demand: Merton jump diffusion, i.i.d. Poisson, or windows of the histories in train_dir
    train_dir: str = ""  # kind files: folder of demand histories laid out like a test set (episodes are seeded windows of them)
    max_demand: int = 20  # Merton: cap of the demand and twice its start level; serial 20, network 4
    stationary_mean: float = 10.0  # Poisson mean of the stationary generator
    merton_jump_rate: float = 15.0  # Poisson rate of the jump count per step (lambda)
    merton_scale: float = 0.01  # scale of diffusion (sd = scale*sqrt(lambda)) and jumps (sd = scale*jump_sd*sqrt(N))
    merton_jump_sd: float = 2.0  # standard deviation of the normal that multiplies each jump
    test_dir: str = "test_data/test_demand_merton"  # folder of test demand files (never used for model selection)
    validation_seed: int = 10_000  # seed of the validation set drawn from the training generator
    validation_episodes: int = 20  # number of validation demand paths


# ----------------------------------------------------------------------------------------------
# Training (HAPPO and its ablations)
# ----------------------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    """Hyperparameters of the multi-agent PPO trainers."""

    algorithm: Literal["happo", "mappo", "ippo", "maml", "hierarchical", "multitask"] = "happo"  # happo = sequential updates with the M factor; maml, hierarchical, multitask = meta-learning (meta/, the meta: section)
    fixed_order: bool = False  # update agents in index order instead of a fresh random permutation
    n_envs: int = 32  # environments per rollout; an iteration = one episode of each (why 32: docs/design_notes.md)
    total_env_steps: int = 3_000_000  # environment periods (summed over envs) to train for
    lr_actor: float = 2e-3  # Adam step size of every actor (why 2e-3: docs/design_notes.md)
    lr_critic: float = 1e-3  # Adam step size of the critic
    lr_schedule: Literal["constant", "linear"] = "linear"  # linear: both step sizes fall to 0 at total_env_steps (steadier end of training)
    gamma: float = 0.99  # discount factor
    gae_lambda: float = 0.95  # GAE bias/variance trade-off
    clip_eps: float = 0.2  # PPO ratio clip
    ppo_epochs: int = 5  # passes over the batch per agent per iteration
    n_minibatches: int = 4  # minibatches per pass
    entropy_coef: float = 0.01  # weight of the entropy bonus
    max_grad_norm: float = 10.0  # gradient-norm clip
    target_kl: float = 0.0  # stop an agent's epochs once its approximate KL from the rollout policy passes 1.5x this (0 = never; PPO's clip alone then bounds the step)
    value_clip: float = 0.2  # clip of the value change per update (normalised units)
    huber_delta: float = 10.0  # Huber loss threshold of the critic
    hidden_sizes: list[int] = field(default_factory=lambda: [64, 64])  # MLP widths of actors and critic
    eval_every: int = 10  # iterations between validation evaluations
    torch_threads: int = 1  # torch intra-op threads (small nets run fastest on one)


# ----------------------------------------------------------------------------------------------
# Hybrid planner (lot sizing of the policy's orders)
# ----------------------------------------------------------------------------------------------
@dataclass
class PlannerConfig:
    """The rolling-horizon planner that re-times a policy's orders into economical lots (lot_sizing.hybrid_planner)."""

    enabled: bool = False  # wrap the env so every order the policy proposes goes through the planner
    mode: Literal["net_requirements", "retime"] = "net_requirements"  # net_requirements: lot-size the stage's forecast demand net of its position, the policy's order setting the safety stock (serial chain); retime: re-time the proposals as requirements (the earlier mode)
    backend: Literal["exact", "wagner_whitin", "silver_meal", "ga", "dalsa"] = "exact"  # solver: net_requirements uses exact (DP over inventory levels) or ga; retime uses wagner_whitin, silver_meal, ga or dalsa (dalsa also splits a network node's order between suppliers)
    horizon: int = 8  # periods H planned ahead each period (networks: more than the longest lead time)
    fixed_order_cost: float = -1.0  # fixed cost per order the planner prices (the lot sizers' setup cost); -1 = the env's own (env.serial.fixed_order_cost; networks have none: give one)
    forecast: Literal["smoothed", "current"] = "smoothed"  # later periods need: an exponentially smoothed mean of the proposals, or the current proposal
    smoothing: float = 0.3  # weight of the newest value in a smoothed mean: of the demand a stage sees (net_requirements), of the proposals (retime, forecast: smoothed)
    netting: Literal["history", "state"] = "history"  # history: the planner nets its own surplus of orders over proposals; state: trust the proposals to net out earlier lots (a policy that reacts to its stock)
    ga_population_size: int = 20  # GA back end: individuals per generation
    ga_max_generations: int = 60  # GA back end: cap on generations per plan
    ga_patience: int = 10  # GA back end: stop after this many generations without a better plan
    ga_seed: int = 0  # GA back end: seed of every plan's run (a plan depends on its inputs only)
    dalsa_phase2: Literal["zio", "exact"] = "zio"  # DALSA back end: lot sizing of each supplier stream (zio = fast DP over zero-inventory lots, exact = Florian-Klein within the capacity)


@dataclass
class ExperimentConfig:
    """One experiment: environment, demand, trainer, seed and output folder."""

    name: str = "serial"  # run name; results go to <out_dir>/<name>_<timestamp>
    seed: int = 0  # seeds every generator of the run
    out_dir: str = "results"  # where run folders and the latest policy are written
    env: EnvConfig = field(default_factory=EnvConfig)  # the environment
    demand: DemandConfig = field(default_factory=DemandConfig)  # the demand
    train: TrainConfig = field(default_factory=TrainConfig)  # the trainer
    planner: PlannerConfig = field(default_factory=PlannerConfig)  # the hybrid planner (off by default)
    residual: ResidualConfig = field(default_factory=ResidualConfig)  # orders as a correction to a classic rule (off by default)
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)  # classic baselines: tuning settings or given parameters (evaluate_main.py)
    meta: MetaConfig = field(default_factory=MetaConfig)  # meta-learning (used when train.algorithm is maml, hierarchical or multitask)


# ----------------------------------------------------------------------------------------------
# Loading, overriding, saving
# ----------------------------------------------------------------------------------------------
def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (list,):
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, str(tp))


def _convert(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check `value` against the annotation `tp`; return it converted (ints widen to floats)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(value, args[0], key, source)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise UserError(f"{source}: '{key}' is {value!r} but must be {_type_name(tp)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            value = [value]  # a scalar where a per-stage list is expected means "the same for all"
        (item_tp,) = typing.get_args(tp)
        return [_convert(v, item_tp, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise UserError(f"{source}: '{key}' must be a mapping of keys, got {value!r}")
        return _build(tp, value, key, source)
    if tp is float and isinstance(value, str):
        try:  # YAML 1.1 reads "3e-4" (no dot) as a string; accept it as the number it means
            value = float(value)
        except ValueError:
            pass
    ok = (
        (tp is bool and isinstance(value, bool))
        or (tp is int and isinstance(value, int) and not isinstance(value, bool))
        or (tp is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (tp is str and isinstance(value, str))
    )
    if not ok:
        raise UserError(f"{source}: '{key}' is {value!r} but must be {_type_name(tp)}")
    if tp is int and not -(2**63) <= value < 2**63:
        raise UserError(f"{source}: '{key}' is {value} but must fit a 64-bit integer (|value| < 2**63)")
    if tp is float and not math.isfinite(value):
        raise UserError(f"{source}: '{key}' is {value!r} but must be a finite number")
    return float(value) if tp is float else value


def _build(cls: type, data: dict, prefix: str, source: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            where = f"'{prefix}.{key}'" if prefix else f"'{key}'"
            raise UserError(
                f"{source}: unknown key {where}; known keys here are {', '.join(sorted(known))} (check the spelling)"
            )
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(value, hints[name], f"{prefix}.{name}" if prefix else name, source)
    return cls(**kwargs)


def config_from_dict(data: dict | None, source: str = "<dict>", cls: type = ExperimentConfig) -> Any:
    """Build a validated config from plain data (as read from YAML); `source` names it in errors."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{source}: the top level must be a mapping of keys, got {type(data).__name__}")
    config = _build(cls, data, "", source)
    validate(config, source)
    return config


def apply_overrides(config: Any, overrides: list[str], source: str = "--set") -> Any:
    """Apply `section.key=value` overrides (values parsed as YAML) and re-validate."""
    data = config_to_dict(config)
    for item in overrides:
        if "=" not in item:
            raise UserError(f"{source} '{item}': expected section.key=value, e.g. --set train.lr_actor=3e-4")
        dotted, raw = item.split("=", 1)
        try:
            value = yaml.load(raw, Loader=UniqueKeyLoader) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        except UserError as err:  # a key given twice in a mapping value
            raise UserError(f"{source} '{item}': {err}") from None
        parts = dotted.strip().split(".")
        node = data
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node.get(part), dict):
                raise UserError(f"{source} '{item}': unknown section '{'.'.join(parts[: i + 1])}' (check the spelling)")
            node = node[part]
        if parts[-1] not in node:
            raise UserError(f"{source} '{item}': unknown key '{dotted.strip()}' (check the spelling)")
        node[parts[-1]] = value
    return config_from_dict(data, source, type(config))


def read_yaml_file(path: str | os.PathLike, what: str, example: str) -> Any:
    """The parsed content of a YAML file; a missing file or bad syntax is a one-line UserError.

    what: what the file is, for the message ("config file"); example: an existing file to suggest."""
    path = Path(path)
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "not found"
        raise UserError(f"{what} '{path}' {problem}; pass an existing YAML file, e.g. {example}")
    try:
        content = path.read_bytes()
    except OSError as err:
        raise UserError(f"{what} '{path}' cannot be read ({err.strerror}); check its permissions") from None
    return parse_yaml(content, str(path))


def load_config(path: str | os.PathLike, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read an experiment YAML file merged over its ``base:`` file(s), apply overrides, validate (one-line UserErrors)."""
    config = config_from_dict(read_config_data(path, read_yaml_file), str(path))
    return apply_overrides(config, overrides) if overrides else config


def config_to_dict(config: Any) -> dict:
    """Plain nested dict of a config (for YAML, JSON and overrides)."""
    return dataclasses.asdict(config)


def save_config(config: Any, path: str | os.PathLike) -> None:
    """Write the resolved config to YAML atomically (temporary name, then rename)."""
    write_text_atomic(path, yaml.safe_dump(config_to_dict(config), sort_keys=False))


def per_stage(values: list, n: int, key: str, source: str = "config") -> list:
    """Broadcast a one-value list to n stages, or check a per-stage list has exactly n values."""
    if len(values) == 1:
        return list(values) * n
    if len(values) != n:
        raise UserError(f"{source}: '{key}' has {len(values)} values but there are {n} stages; give 1 or {n}")
    return list(values)


def validate(config: Any, source: str = "config") -> None:
    """Range checks that types alone cannot express."""
    if not isinstance(config, ExperimentConfig):
        return
    env, s = config.env, config.env.serial
    checks = [
        (env.episode_length >= 1, "env.episode_length must be at least 1"),
        (env.order_cap >= 1, "env.order_cap must be at least 1"),
        (0.0 <= env.reward_alpha <= 1.0, "env.reward_alpha must be between 0 and 1"),
        (s.n_stages >= 1, "env.serial.n_stages must be at least 1"),
        (all(L >= 1 for L in s.lead_time), "env.serial.lead_time values must be at least 1"),
        (s.initial_on_hand >= 0 and s.initial_pipeline >= 0, "env.serial initial stock must be >= 0"),
        (s.fixed_order_cost >= 0, "env.serial.fixed_order_cost must be >= 0"),
        (0 <= s.max_loss_percent <= 100, "env.serial.max_loss_percent must be between 0 and 100"),
        (s.discount_tier_width >= 1, "env.serial.discount_tier_width must be at least 1"),
        (config.demand.max_demand >= 1, "demand.max_demand must be at least 1"),
        (config.train.n_envs >= 1, "train.n_envs must be at least 1"),
        (0.0 < config.train.gamma <= 1.0, "train.gamma must be in (0, 1]"),
        (0.0 <= config.train.gae_lambda <= 1.0, "train.gae_lambda must be in [0, 1]"),
        (config.train.total_env_steps >= 1, "train.total_env_steps must be at least 1"),
        (config.train.lr_actor > 0 and config.train.lr_critic > 0, "train.lr_actor and train.lr_critic must be > 0"),
        (0.0 < config.train.clip_eps < 1.0, "train.clip_eps must be in (0, 1)"),
        (config.train.ppo_epochs >= 1, "train.ppo_epochs must be at least 1"),
        (config.train.n_minibatches >= 1, "train.n_minibatches must be at least 1"),
        (
            config.train.n_minibatches <= config.train.n_envs * env.episode_length,
            "train.n_minibatches must not exceed the samples per iteration (train.n_envs * env.episode_length)",
        ),
        (config.train.entropy_coef >= 0, "train.entropy_coef must be >= 0"),
        (config.train.max_grad_norm > 0, "train.max_grad_norm must be > 0"),
        (config.train.value_clip > 0, "train.value_clip must be > 0"),
        (config.train.huber_delta > 0, "train.huber_delta must be > 0"),
        (
            len(config.train.hidden_sizes) >= 1 and all(h >= 1 for h in config.train.hidden_sizes),
            "train.hidden_sizes must list at least one layer width, each at least 1",
        ),
        (config.train.eval_every >= 1, "train.eval_every must be at least 1"),
        (config.train.torch_threads >= 1, "train.torch_threads must be at least 1"),
        (config.baselines.tune_paths >= 1, "baselines.tune_paths must be at least 1"),
        (config.residual.width >= 1, "residual.width must be at least 1"),
        (0.0 < config.residual.start_prob < 1.0, "residual.start_prob must be in (0, 1)"),
        (config.residual.tune_paths >= 1, "residual.tune_paths must be at least 1"),
        (config.planner.horizon >= 1, "planner.horizon must be at least 1"),
        (config.planner.fixed_order_cost >= 0 or config.planner.fixed_order_cost == -1, "planner.fixed_order_cost must be >= 0, or -1 for the env's fixed order cost"),
        (0.0 < config.planner.smoothing <= 1.0, "planner.smoothing must be in (0, 1]"),
        (config.planner.ga_population_size >= 3, "planner.ga_population_size must be at least 3"),
        (config.planner.ga_max_generations >= 1 and config.planner.ga_patience >= 1, "planner.ga_max_generations and planner.ga_patience must be at least 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(f"{source}: {message}")
    check_limits(config, source)  # costs, seeds, run name, network numbers, memory
    validate_meta(config.meta, source)
    for key in ("lead_time", "holding_cost", "backlog_cost", "unit_order_cost"):
        per_stage(getattr(s, key), s.n_stages, f"env.serial.{key}", source)
    if s.discount_factors:
        n_tiers_needed = env.order_cap // s.discount_tier_width + 1
        if len(s.discount_factors) < n_tiers_needed:
            raise UserError(
                f"{source}: env.serial.discount_factors has {len(s.discount_factors)} tiers but orders up to "
                f"{env.order_cap} need {n_tiers_needed} (order_cap // discount_tier_width + 1)"
            )

