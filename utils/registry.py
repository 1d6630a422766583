"""One way to make things choosable by name from a config: baseline policies, trainer variants, planner back ends.

A ``Registry`` maps a name (the value a config key takes) to what it builds. Registering is a decorator
or a call; looking a name up that is not there is a one-line ``UserError`` naming the config key and the
choices, so a typo in a YAML file never becomes a traceback.
"""
from __future__ import annotations

from typing import Any, Callable, Generic, Iterator, TypeVar

from utils.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> entry, in registration order (the order listings and tables use)."""

    def __init__(self, what: str) -> None:
        """what: the config key or kind of entry, as a user reads it in an error ("baseline", "train.algorithm")."""
        self.what = what
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T | None = None) -> Any:
        """``register(name, entry)`` adds entry; ``@register(name)`` adds the decorated class or function."""
        if entry is not None:
            self._add(name, entry)
            return entry

        def decorate(obj: Callable) -> Callable:
            self._add(name, obj)  # type: ignore[arg-type]
            return obj

        return decorate

    def _add(self, name: str, entry: T) -> None:
        if name in self._entries:
            raise ValueError(f"{self.what} '{name}' is registered twice")
        self._entries[name] = entry

    def get(self, name: str) -> T:
        """The entry of `name`; an unknown name is a one-line UserError listing the choices."""
        if name not in self._entries:
            raise UserError(f"unknown {self.what} '{name}'; choose one of {', '.join(self._entries)}")
        return self._entries[name]

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __len__(self) -> int:
        return len(self._entries)

    def items(self):
        return self._entries.items()
