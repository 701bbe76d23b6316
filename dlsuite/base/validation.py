"""Argument checks shared by every package: one message style, naming the argument and its value."""

from __future__ import annotations

from typing import Any


def check_positive_int(**arguments: Any) -> None:
    """Raises `ValueError` unless every keyword argument is a positive int (bools rejected).

    The message follows Keras: ``"`units` expected a positive integer. Received: units=0"``.
    """
    for name, value in arguments.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"`{name}` expected a positive integer. Received: {name}={value!r}")
