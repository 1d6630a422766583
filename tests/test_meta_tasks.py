"""Meta-learning tasks: seeded draws, held-out tasks never drawn for training, the task file, and one env
running many tasks side by side exactly as separate envs would."""
import dataclasses

import numpy as np
import pytest

from envs import SerialEnv
from meta.tasks import (
    MultiTaskSerialEnv, SerialTask, held_out_tasks, load_test_tasks, read_task_file, sample_training_tasks, write_task_file,
)
from utils.config import ExperimentConfig
from utils.errors import UserError
from utils.meta_config import TaskDistributionConfig


def test_tasks_drawn_with_one_seed_are_identical_and_cover_the_ranges():
    dist = TaskDistributionConfig()
    a = sample_training_tasks(dist, np.random.default_rng(5), 200, [], 3)
    b = sample_training_tasks(dist, np.random.default_rng(5), 200, [], 3)
    c = sample_training_tasks(dist, np.random.default_rng(6), 200, [], 3)
    assert a == b and a != c
    stationary = [t for t in a if t.demand_kind == "stationary"]
    merton = [t for t in a if t.demand_kind == "merton"]
    assert 70 < len(merton) < 130  # merton_fraction 0.5
    assert {t.poisson_mean for t in stationary} <= set(range(4, 17)) and min(t.poisson_mean for t in stationary) == 4
    assert all(5 <= t.merton_jump_rate <= 25 and 0.005 <= t.merton_scale <= 0.015 for t in merton)
    assert {x for t in a for x in t.lead_time} == set(range(1, 7))
    assert {t.backlog_ratio for t in a} == set(range(1, 20))


def test_held_out_tasks_are_never_drawn_for_training():
    # a family of 4 tasks, 2 held out: without the exclusion 200 draws would hit them ~100 times
    dist = TaskDistributionConfig(merton_fraction=0.0, poisson_mean=[4, 5], lead_time=[2, 2], backlog_ratio=[1, 2], n_test_tasks=2)
    held = held_out_tasks(dist, 2)
    assert len(set(held)) == 2
    drawn = sample_training_tasks(dist, np.random.default_rng(0), 200, held, 2)
    assert not set(drawn) & set(held)
    assert len(set(drawn)) == 2  # the other two tasks
    config = ExperimentConfig()
    config.env.serial.n_stages = 2
    config.meta.tasks = dist
    env = MultiTaskSerialEnv(config, n_envs=50, seed=1, resample=True, held_out=held)
    seen = set()
    for seed in range(4):
        env.reset(seed=seed)
        seen |= set(env.tasks)
    assert seen and not seen & set(held)


def test_task_file_lists_the_seeded_tasks(tmp_path):
    config = ExperimentConfig()
    config.meta.tasks.test_tasks_file = str(tmp_path / "tasks.yaml")
    tasks = held_out_tasks(config.meta.tasks, 3)
    write_task_file(config.meta.tasks.test_tasks_file, tasks, config.meta.tasks)
    assert read_task_file(config.meta.tasks.test_tasks_file) == tasks == load_test_tasks(config)
    config.meta.tasks.test_seed += 1  # the file no longer lists what the seed draws
    with pytest.raises(UserError, match="does not list"):
        load_test_tasks(config)


def test_many_tasks_in_one_env_equal_one_env_per_task():
    config = ExperimentConfig()
    config.env.episode_length = 30
    tasks = [
        SerialTask("stationary", 7, 0, 0.0, (1, 3, 2), 4),
        SerialTask("merton", 0, 12, 0.012, (6, 1, 6), 19),
        SerialTask("stationary", 15, 0, 0.0, (2, 2, 2), 1),
    ]
    E = 2
    env = MultiTaskSerialEnv(config, n_envs=len(tasks) * E, seed=3)
    env.set_tasks(tasks, E)
    env.reset(seed=11)
    demand = env.demand.copy()  # (B, T, 1)
    singles = []
    for i, task in enumerate(tasks):
        single = SerialEnv(task.env_config(config.env), n_envs=E)
        single.reset(demand=demand[i * E : (i + 1) * E])
        singles.append(single)
    rng = np.random.default_rng(0)
    for _ in range(config.env.episode_length):
        actions = rng.integers(0, 21, size=(env.n_envs, 3))
        _, _, _, _, info = env.step(actions)
        for i, single in enumerate(singles):
            rows = slice(i * E, (i + 1) * E)
            _, _, _, _, info_i = single.step(actions[rows])
            assert np.array_equal(info["cost"][rows], info_i["cost"])
            assert np.array_equal(env.on_hand[rows], single.on_hand)
            assert np.array_equal(env.backlog[rows], single.backlog)
            assert np.array_equal(env.pipeline[rows, :, : single.n_slots], single.pipeline)
            assert not env.pipeline[rows, :, single.n_slots :].any()
    # each task's demand comes from its own process: Poisson means 7 and 15, a Merton path starting at 10
    assert demand[4:6].mean() > demand[0:2].mean() + 4 and (demand[2:4, 0, 0] == 10).all()


def test_per_env_parameters_are_checked():
    env = SerialEnv(dataclasses.replace(ExperimentConfig().env), n_envs=2)
    with pytest.raises(UserError, match="lead times must be 1..4"):
        env.set_per_env_parameters(np.full((2, 3), 5), np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(UserError, match="shape"):
        env.set_per_env_parameters(np.full((2, 2), 1), np.ones((2, 3)), np.ones((2, 3)))
