"""The hand-made samplers a learned one is compared with, and the rule that keeps the best of each family.

Euler and Tweedie on the linear grid, the cosine grid, the power grid tau_k = (1 - k/M)^gamma, and each spread order
under every one of those schedules. `examples/distill.py`'s closing table and every benchmark use this line-up.
"""

from collections.abc import Callable

from .scheduling_lsd import LSDDiscreteScheduler
from .unmasking_orders import SPREAD_ORDERS

POWER_GRID = (0.1, 0.2, 0.3, 0.5, 0.7)


def public_config(scheduler: LSDDiscreteScheduler) -> dict:
    """A scheduler's config without diffusers' private keys: the fields `from_config` takes back."""
    return {k: v for k, v in scheduler.config.items() if not k.startswith("_")}


def variant(baseline: LSDDiscreteScheduler, **overrides) -> LSDDiscreteScheduler:
    """The sampler with some config fields changed (same class: an LSD+ sampler keeps its learned schedule)."""
    return type(baseline).from_config({**public_config(baseline), **overrides})


def baseline_of(scheduler: LSDDiscreteScheduler, **overrides) -> LSDDiscreteScheduler:
    """The scheduler without learned values (coefficients, step count, times): the sampler a student starts from.

    Args:
        scheduler (`LSDDiscreteScheduler`): any LSD scheduler.
        **overrides: config fields to change.
    """
    config = {**public_config(scheduler), "coefficients": None, "num_inference_steps": None, **overrides}
    config.pop("timesteps", None)
    return LSDDiscreteScheduler.from_config(config)


def hand_made(baseline: LSDDiscreteScheduler, power_grid=POWER_GRID) -> dict[str, LSDDiscreteScheduler]:
    """euler, tweedie, cosine and the power grid."""
    samplers = {
        "euler": variant(baseline, solver="euler"),
        "tweedie": variant(baseline, solver="tweedie"),
        "cosine": variant(baseline, timestep_spacing="cosine"),
    }
    for gamma in power_grid:
        samplers[f"power({gamma})"] = variant(baseline, timestep_spacing="power", timestep_power=gamma)
    return samplers


def spread_made(baseline: LSDDiscreteScheduler, orders, power_grid=POWER_GRID) -> dict[str, LSDDiscreteScheduler]:
    """Each spread order with every hand-made schedule (linear, cosine, the power grid): `"<order> <schedule>"`."""
    samplers = {}
    for order in orders:
        samplers[f"{order} linear"] = variant(baseline, unmasking_order=order)
        samplers[f"{order} cosine"] = variant(baseline, unmasking_order=order, timestep_spacing="cosine")
        for gamma in power_grid:
            samplers[f"{order} power({gamma})"] = variant(
                baseline, unmasking_order=order, timestep_spacing="power", timestep_power=gamma
            )
    return samplers


def keep_best(rows: list[dict], prefix: str, name: str, metric: str, key: Callable[[dict], float] | None = None):
    """Of the rows named `prefix + schedule` keep the best, renamed `name`, with its schedule in `schedule`.

    Args:
        rows (`list[dict]`): result rows.
        prefix (`str`): e.g. `"spread "`. name (`str`): the kept row's name, e.g. `"spread"`.
        metric (`str`): the best row has the lowest value of this metric...
        key (`Callable`, *optional*): ...or, when given, the lowest `key(row)`.
    """
    group = [row for row in rows if row["sampler"].startswith(prefix)]
    if not group:
        return rows
    best = min(group, key=key or (lambda row: row["metrics"][metric]))
    kept = {**best, "sampler": name, "schedule": best["sampler"][len(prefix) :]}
    return [row for row in rows if not row["sampler"].startswith(prefix)] + [kept]


def keep_best_power(rows: list[dict], metric: str, key: Callable[[dict], float] | None = None) -> list[dict]:
    """Keep the best hand-made schedule of each order (the strongest hand-made baselines): of the power(gamma) rows
    the best, named `power` (with its `gamma`), and of each spread order's rows the best, named after the order.

    Args:
        rows (`list[dict]`): result rows, some named `power(gamma)` or `"<order> <schedule>"` (`spread_made`).
        metric (`str`): the best row has the lowest value of this metric...
        key (`Callable`, *optional*): ...or, when given, the lowest `key(row)`.
    """
    for order in SPREAD_ORDERS:
        rows = keep_best(rows, f"{order} ", order, metric, key)
    powers = [row for row in rows if row["sampler"].startswith("power(")]
    others = [row for row in rows if not row["sampler"].startswith("power(")]
    if not powers:
        return rows
    best = min(powers, key=key or (lambda row: row["metrics"][metric]))
    return others + [{**best, "sampler": "power", "gamma": float(best["sampler"][len("power(") : -1])}]
