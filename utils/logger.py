"""The library's one logger, and progress lines with an estimate of the time left.

Every module logs through ``get_logger()`` (a ``logging.Logger`` named ``inventory``): messages go to the
console, and ``log_file(run_dir)`` also copies them into ``run_dir/log.txt`` while a run is in progress.
``configure(level="debug" | "info" | "warning" | "error", quiet=False)`` sets what is shown; ``quiet`` keeps
the console to warnings and errors while ``log.txt`` still receives every info line.

``Progress`` turns "k of n done" into one log line with the elapsed time and a time-left estimate
(elapsed / done * left: the work units of a training run, a tuning search or a sweep are roughly equal).
It writes plain lines, not a redrawn bar, because long work usually runs where the output is a file:
``log.txt``, a Slurm job's output, a Ray worker's log. A carriage-return progress bar (tqdm and the like)
turns into thousands of fragments there, so the project does not depend on one.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

#: the name of the library's logger (``logging.getLogger(LOGGER_NAME)``)
LOGGER_NAME = "inventory"
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class _ConsoleFilter(logging.Filter):
    """Shows a record on the console when it reaches the console threshold (quiet mode raises it)."""

    def __init__(self) -> None:
        super().__init__()
        self.threshold = logging.INFO

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.threshold


_console_filter = _ConsoleFilter()


class _Console(logging.StreamHandler):
    """Writes to whatever sys.stdout is at the moment (a notebook or a test may replace it after import)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def get_logger() -> logging.Logger:
    """The library's logger, with its console handler (stdout) set up on first use."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(getattr(h, "_inventory_console", False) for h in logger.handlers):
        handler = _Console(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))  # the console stays as plain as print
        handler.addFilter(_console_filter)
        handler._inventory_console = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # a notebook's root logger does not print every line twice
    return logger


def configure(level: str = "info", quiet: bool = False) -> logging.Logger:
    """Set the level of the library's messages; quiet: the console shows only warnings and errors."""
    if level not in LEVELS:
        from utils.errors import UserError

        raise UserError(f"log level '{level}' is not known; choose one of {', '.join(LEVELS)}")
    logger = get_logger()
    logger.setLevel(LEVELS[level])
    _console_filter.threshold = max(LEVELS[level], logging.WARNING if quiet else logging.DEBUG)
    return logger


@contextlib.contextmanager
def quiet_console() -> Iterator[None]:
    """Keep the console to warnings and errors while the block runs (log files still get every line)."""
    before = _console_filter.threshold
    _console_filter.threshold = max(before, logging.WARNING)
    try:
        yield
    finally:
        _console_filter.threshold = before


@contextlib.contextmanager
def log_file(folder: str | os.PathLike, name: str = "log.txt") -> Iterator[Path]:
    """Copy the library's messages into folder/name (appended, with time stamps) while the block runs."""
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="a", encoding="utf-8", delay=True)  # created with its first line
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    logger = get_logger()
    logger.addHandler(handler)
    try:
        yield path
    finally:
        logger.removeHandler(handler)
        handler.close()


def info(message: str) -> None:
    """Log one info line (the default ``log`` callback of long-running functions)."""
    get_logger().info(message)


def format_duration(seconds: float) -> str:
    """'42s', '3m05s', '2h07m': short enough for a progress line."""
    if not seconds == seconds or seconds == float("inf"):  # NaN or unknown
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


class Progress:
    """Counts finished units of long work and reports them with the time left.

    ``Progress(total, "training", log)``; ``line(done)`` is the text, ``update(done, note)`` logs it
    (at most every ``every_s`` seconds, and always for the first and the last unit). ``clock`` is
    injectable so the estimate can be tested without waiting.
    """

    def __init__(
        self, total: int, what: str, log: Callable[[str], None] = info, every_s: float = 0.0,
        start_done: int = 0, clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """total: units of work; start_done: units already done before this session (a resumed run:
        the estimate uses only the rate of this session); every_s: least seconds between two lines."""
        self.total, self.what, self.log, self.every_s = int(total), what, log, every_s
        self.start_done, self.clock = int(start_done), clock
        self.start = clock()
        self.last_report = -float("inf")

    def seconds_left(self, done: int) -> float:
        """Estimated seconds until total: this session's seconds per unit times the units left."""
        finished = done - self.start_done
        if finished <= 0:
            return float("nan")
        return (self.clock() - self.start) / finished * (self.total - done)

    def line(self, done: int, note: str = "") -> str:
        elapsed = self.clock() - self.start
        pct = 100.0 * done / self.total if self.total else 100.0
        text = (f"{self.what} {done}/{self.total} ({pct:.0f}%)  elapsed {format_duration(elapsed)}  "
                f"left ~{format_duration(self.seconds_left(done))}")
        return f"{text}  {note}" if note else text

    def update(self, done: int, note: str = "") -> None:
        now = self.clock()
        if done >= self.total or done <= self.start_done + 1 or now - self.last_report >= self.every_s:
            self.last_report = now
            self.log(self.line(done, note))
