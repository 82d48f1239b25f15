"""Checks of user input: one function per kind of value, each raising an error that names it and what is allowed.

Config fields, step inputs, command-line arguments and checkpoint files all go through these, so a wrong type, NaN,
inf, an empty list or an out-of-range value gets the same kind of message wherever it comes in. `TypeError` is for
a value of the wrong kind, `ValueError` for a value of the right kind outside what is allowed.
"""

import math
import numbers

import torch


def is_integer(value) -> bool:
    """An integer that is not a bool (numpy integers included)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    """A real number that is not a bool (ints and numpy floats included)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_integer(name: str, value, minimum: int | None = None, maximum: int | None = None, allow_none: bool = False):
    """An integer in [minimum, maximum] (None allowed when `allow_none`); returns it as an `int`."""
    if value is None and allow_none:
        return None
    bounds = _bounds_text(minimum, maximum, False, False)
    if not is_integer(value):
        raise TypeError(f"{name} must be an integer{bounds}, got {value!r} ({type(value).__name__}).")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an integer{bounds}, got {value}.")
    return int(value)


def check_real(
    name: str,
    value,
    minimum: float | None = None,
    maximum: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_none: bool = False,
) -> float | None:
    """A finite real number in the given range (open ends with `low_open` / `high_open`); returns it as a float."""
    if value is None and allow_none:
        return None
    bounds = _bounds_text(minimum, maximum, low_open, high_open)
    if not is_real(value):
        raise TypeError(f"{name} must be a finite number{bounds}, got {value!r} ({type(value).__name__}).")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number{bounds}, got {value}.")
    below = minimum is not None and (value <= minimum if low_open else value < minimum)
    above = maximum is not None and (value >= maximum if high_open else value > maximum)
    if below or above:
        raise ValueError(f"{name} must be a finite number{bounds}, got {value}.")
    return value


def check_real_list(
    name: str, values, minimum: float | None = None, low_open: bool = False, allow_none: bool = False
) -> list[float] | None:
    """A non-empty list (or tuple) of finite numbers, each at least `minimum` (above it with `low_open`)."""
    if values is None and allow_none:
        return None
    if not isinstance(values, (list, tuple)):
        raise TypeError(f"{name} must be a list of numbers, got {values!r} ({type(values).__name__}).")
    if not values:
        raise ValueError(f"{name} must not be empty (use None for no values).")
    return [check_real(f"{name}[{index}]", value, minimum, low_open=low_open) for index, value in enumerate(values)]


def check_choice(name: str, value, choices: tuple) -> str:
    """One of `choices`."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"Unknown {name} {value!r}; expected one of {choices}.")
    return value


def check_generator(generator, batch_size: int | None = None) -> None:
    """None, a `torch.Generator`, or a list of one `torch.Generator` per batch row."""
    if generator is None or isinstance(generator, torch.Generator):
        return
    if isinstance(generator, list) and all(isinstance(item, torch.Generator) for item in generator):
        if batch_size is not None and len(generator) != batch_size:
            raise ValueError(f"Got {len(generator)} generators for a batch of {batch_size}; pass one per batch row.")
        return
    raise TypeError(
        f"generator must be a torch.Generator, a list of them (one per batch row) or None, got {generator!r}; "
        "seed one with torch.Generator().manual_seed(seed)."
    )


def check_token_ids(name: str, tokens, vocab_size: int) -> torch.LongTensor:
    """An integer tensor of ids in [0, vocab_size); int32 and other integer dtypes are returned as int64."""
    if not isinstance(tokens, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor of token ids, got {type(tokens).__name__}.")
    if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor of token ids, got dtype {tokens.dtype} (never rounded).")
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab_size):
        raise ValueError(
            f"{name} holds token ids in [{int(tokens.min())}, {int(tokens.max())}], outside the vocabulary "
            f"[0, {vocab_size})."
        )
    return tokens.long()


def _bounds_text(minimum, maximum, low_open: bool, high_open: bool) -> str:
    if minimum is not None and maximum is not None:
        return f" in {'(' if low_open else '['}{minimum}, {maximum}{')' if high_open else ']'}"
    if minimum is not None:
        return f" {'>' if low_open else '>='} {minimum}"
    if maximum is not None:
        return f" {'<' if high_open else '<='} {maximum}"
    return ""
