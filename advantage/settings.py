"""Config dataclasses that remember which fields their caller set.

``A2CConfig(value_coeff=0.5)`` and ``A2CConfig()`` hold equal values when 0.5 is the class
default, yet only the first *sets* ``value_coeff``: laid over an env family's defaults, it must
win even where the family's value differs. Comparing against the class default cannot tell the
two apart, so every config records the names its constructor received: that record is the
"unset" marker, and a field it did not receive keeps the value of the layer below.
"""

from __future__ import annotations

import dataclasses
from typing import Any


class Settings:
    """Mixin for config dataclasses: ``given_fields`` are the fields passed to the constructor,
    positionally or by name (a config made by ``dataclasses.replace`` or from a file gives all
    the fields it names). A field assigned after construction is not recorded: set it by
    passing it, or edit the resolved run config."""

    _given: frozenset[str]

    def __new__(cls, *args: Any, **kwargs: Any) -> Settings:
        self = super().__new__(cls)
        names = [f.name for f in dataclasses.fields(cls) if f.init]
        object.__setattr__(self, "_given", frozenset(names[: len(args)]) | frozenset(kwargs))
        return self

    @property
    def given_fields(self) -> frozenset[str]:
        return self.__dict__.get("_given", frozenset())


def given_values(config: Any) -> dict[str, Any]:
    """``{field: value}`` for the fields ``config`` was given (see :class:`Settings`); every
    init field when ``config`` does not record them. Every other field is unset.

    Examples:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class C(Settings):
        ...     a: int = 1
        ...     b: int = 2
        >>> given_values(C(b=2)), given_values(C(5))
        ({'b': 2}, {'a': 5})
    """
    fields = [f.name for f in dataclasses.fields(config) if f.init]
    given = config.given_fields if isinstance(config, Settings) else frozenset(fields)
    return {name: getattr(config, name) for name in fields if name in given}
