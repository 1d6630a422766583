"""What produced a result: the code (git commit, uncommitted changes), the packages, the command, the machine.

Every run folder and every sweep folder gets a ``provenance.yaml`` next to its resolved ``config.yaml``, and
each sweep cell's ``result.json`` carries the same record, so a number in a table can be traced back to the
exact code and command that made it. Outside a git checkout (an installed copy) the commit is null.
"""
from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from utils.files import write_text_atomic

#: the distributions whose versions decide the numbers (ray only when installed)
PACKAGES = ("torch", "numpy", "scipy", "pyyaml", "matplotlib", "ray")
ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state() -> dict[str, Any]:
    """{'commit': sha or None, 'dirty': whether tracked files differ from the commit (None outside git)}."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed version of each distribution that is installed."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def provenance(argv: list[str] | None = None) -> dict[str, Any]:
    """The record of what is producing a result now (plain data: YAML and JSON ready)."""
    return {
        **git_state(),
        "command": [Path(sys.executable).name, *(sys.argv if argv is None else argv)],
        "cwd": os.getcwd(),
        "python": platform.python_version(),
        "packages": package_versions(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_provenance(folder: str | os.PathLike, record: dict[str, Any] | None = None) -> Path:
    """Write folder/provenance.yaml (the given record, or the current one) atomically."""
    path = Path(folder) / "provenance.yaml"
    write_text_atomic(path, yaml.safe_dump(record if record is not None else provenance(), sort_keys=False))
    return path
