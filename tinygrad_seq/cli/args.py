"""Argument types that reject nonsense early, with a one-line message (argparse exits with code 2)."""

from __future__ import annotations

import argparse
import math


def _number(convert, accept, expected):
    """An argparse type: ``convert`` the text, then keep it only if ``accept(value)``."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value

    return parse


positive_int = _number(int, lambda v: v > 0, "a positive whole number")
non_negative_int = _number(int, lambda v: v >= 0, "a whole number >= 0")
positive_float = _number(float, lambda v: v > 0 and math.isfinite(v), "a finite positive number")
probability = _number(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
