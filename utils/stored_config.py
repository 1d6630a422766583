"""The config the library stored in its own files (model files, best.pt, last.pt, meta-learned models), read back.

A checkpoint carries the resolved config it was trained with, so evaluation and a resume start from it. Keys
renamed since a file was written are renamed on the way in (``upgrade_stored_config``), so older model files
stay loadable; a user's YAML with an old key still gets the unknown-key error that names the current keys.
"""
from __future__ import annotations

import os
from typing import Any

from utils.config import ExperimentConfig, config_from_dict
from utils.errors import UserError

#: (section, old key) -> new key, for configs stored in model files and run folders by older versions
RENAMED_KEYS = {("planner", "setup_cost"): "fixed_order_cost"}


def upgrade_stored_config(data: Any) -> Any:
    """A stored config (plain data) with keys renamed since it was written; the caller's data is not changed."""
    if not isinstance(data, dict):
        return data
    data = {section: dict(values) if isinstance(values, dict) else values for section, values in data.items()}
    for (section, old), new in RENAMED_KEYS.items():
        values = data.get(section)
        if isinstance(values, dict) and old in values and new not in values:
            values[new] = values.pop(old)
    return data


def stored_config(data: dict, path: str | os.PathLike) -> ExperimentConfig:
    """The validated config stored in a file the library wrote: data is the file's content as loaded
    (``agents.happo_agent.read_checkpoint``), path names the file in messages."""
    if "config" not in data:
        raise UserError(f"'{path}' holds no stored config, so it was not written by this library; use a file train_main.py wrote")
    return config_from_dict(upgrade_stored_config(data["config"]), f"{path} (stored config)")
