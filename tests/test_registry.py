"""utils.registry: the one way configs choose entries by name (baselines, trainer variants, env kinds)."""
from __future__ import annotations

import pytest

from utils.errors import UserError
from utils.registry import Registry


def test_registry_keeps_order_and_refuses_unknown_and_duplicate_names():
    reg: Registry[int] = Registry("thing")
    reg.register("b", 2)

    @reg.register("a")
    def a() -> int:
        return 1

    assert reg.names() == ["b", "a"] and list(reg) == ["b", "a"] and "a" in reg and len(reg) == 2
    assert reg.get("b") == 2 and reg["a"] is a
    with pytest.raises(UserError, match=r"^unknown thing 'c'; choose one of b, a$"):
        reg.get("c")
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("b", 3)


def test_the_project_registries_name_their_config_key():
    from agents.baselines import make_baseline
    from agents.happo_agent import ALGORITHMS
    from envs import ENV_KINDS

    assert ENV_KINDS.names() == ["serial", "network"] and ALGORITHMS.names() == ["happo", "mappo", "ippo"]
    assert ALGORITHMS.get("happo").sequential_factor and ALGORITHMS.get("ippo").local_critics
    with pytest.raises(UserError, match="unknown baseline 'base_stok'; choose one of installation_base_stock"):
        make_baseline("base_stok")
    with pytest.raises(UserError, match="unknown env.kind 'tree'"):
        ENV_KINDS.get("tree")
