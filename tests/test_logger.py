"""The library's logger (console, log.txt, quiet mode) and progress lines with the time left."""
from __future__ import annotations

import logging

import numpy as np

from agents.baselines import ParamSpace, coordinate_search
from utils.logger import Progress, configure, format_duration, get_logger, log_file, quiet_console


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_time_left_is_this_sessions_rate_times_the_units_left():
    clock, lines = FakeClock(), []
    progress = Progress(10, "iter", lines.append, clock=clock)
    assert np.isnan(progress.seconds_left(0))
    clock.now += 10.0
    assert progress.seconds_left(2) == 40.0  # 5 s per unit, 8 units left
    assert progress.line(2) == "iter 2/10 (20%)  elapsed 10s  left ~40s"
    resumed = Progress(10, "iter", lines.append, start_done=6, clock=clock)  # 6 units done in an earlier session
    clock.now += 30.0
    assert resumed.seconds_left(8) == 30.0  # 15 s per unit of this session, 2 left
    assert format_duration(3725) == "1h02m" and format_duration(185) == "3m05s" and format_duration(float("nan")) == "?"


def test_progress_lines_are_throttled_but_first_and_last_always_shown():
    clock, lines = FakeClock(), []
    progress = Progress(5, "cells", lines.append, every_s=8.0, clock=clock)
    for done in range(1, 6):
        clock.now += 3.0
        progress.update(done, f"cell {done}")
    # 1 (first), 4 (9 s after the first line), 5 (last); 2 and 3 came within 8 s of the first
    assert [line.split()[1] for line in lines] == ["1/5", "4/5", "5/5"]
    assert lines[-1].endswith("left ~0s  cell 5")


def test_quiet_console_keeps_warnings_and_log_file_keeps_everything(tmp_path, capsys):
    logger = get_logger()
    try:
        configure(quiet=True)
        with log_file(tmp_path):
            logger.info("an info line")
            logger.warning("a warning")
        logger.info("after the run")
        configure()
        with quiet_console():  # what a sweep does around each cell it runs in this process
            logger.info("inside a sequential sweep cell")
        logger.info("loud again")
        configure("warning")
        logger.info("hidden by the level")
    finally:
        configure()
    assert capsys.readouterr().out.splitlines() == ["a warning", "loud again"]
    text = (tmp_path / "log.txt").read_text().splitlines()
    assert [line.split(" ", 3)[2:] for line in text] == [["INFO", "an info line"], ["WARNING", "a warning"]]
    assert logging.getLogger("inventory").propagate is False


def test_tuning_reports_each_sweep_with_the_best_cost_so_far():
    space = ParamSpace(["a", "b"], [np.arange(0.0, 41.0), np.arange(0.0, 41.0)], np.array([0.0, 40.0]))
    f = lambda X: (X[:, 0] - 13.0) ** 2 + (X[:, 1] - 29.0) ** 2  # noqa: E731
    reports = []
    x, best, n = coordinate_search(f, space, on_sweep=lambda k, cost, evals: reports.append((k, cost, evals)))
    assert [k for k, _, _ in reports] == list(range(1, len(reports) + 1))
    costs = [c for _, c, _ in reports]
    assert costs == sorted(costs, reverse=True) and costs[-1] == best == 0.0
    assert reports[-1][2] == n
