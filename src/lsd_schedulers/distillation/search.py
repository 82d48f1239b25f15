"""Derivative-free search helpers for time schedules: golden-section on one variable, moves of one boundary."""

import math

import torch

GOLDEN = (math.sqrt(5) - 1) / 2
BOUNDARY_MOVES = (-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0)


def golden_section_start(low: float, high: float) -> dict:
    """State of a golden-section search for the minimum of a function on [low, high]."""
    return {
        "low": low,
        "high": high,
        "left": high - GOLDEN * (high - low),
        "right": low + GOLDEN * (high - low),
        "f_left": None,
        "f_right": None,
        "best_x": None,
        "best_f": None,
    }


def golden_section_propose(state: dict) -> float:
    """The next point to evaluate (shrinking the bracket when both inner points are known)."""
    if state["f_left"] is None:
        return state["left"]
    if state["f_right"] is None:
        return state["right"]
    low, high = state["low"], state["high"]
    if state["f_left"] <= state["f_right"]:
        # minimum lies in [low, right]
        state.update(high=state["right"], right=state["left"], f_right=state["f_left"], f_left=None)
        state["left"] = state["high"] - GOLDEN * (state["high"] - low)
        return state["left"]
    # minimum lies in [left, high]
    state.update(low=state["left"], left=state["right"], f_left=state["f_right"], f_right=None)
    state["right"] = state["low"] + GOLDEN * (high - state["low"])
    return state["right"]


def golden_section_record(state: dict, x: float, value: float) -> None:
    """Store f(x) for the point that `golden_section_propose` returned."""
    key = "f_left" if state["f_left"] is None and x == state["left"] else "f_right"
    state[key] = value
    if state["best_f"] is None or value < state["best_f"]:
        state["best_x"], state["best_f"] = x, value


def boundary_candidates(times: torch.Tensor, index: int, spread: float) -> list[float]:
    """Candidate positions of boundary tau_k between its neighbours: its fraction f moved in logit space.

    f = (tau_k - tau_{k+1}) / (tau_{k-1} - tau_{k+1}); the candidates keep the schedule strictly decreasing.
    """
    upper, lower = float(times[index - 1]), float(times[index + 1])
    fraction = (float(times[index]) - lower) / (upper - lower)
    logit = math.log(fraction / (1 - fraction))
    candidates = []
    for move in BOUNDARY_MOVES:
        moved = 1 / (1 + math.exp(-(logit + spread * move)))
        candidates.append(lower + min(max(moved, 1e-4), 1 - 1e-4) * (upper - lower))
    return candidates
