"""Checking the build options every model builder receives (the engine passes the same set to all)."""

from __future__ import annotations

from benchmark.errors import ModelError

COMMON_OPTIONS = ("pretrained", "dropout", "inflate")
INFLATE_CHOICES = ("copy", "divide")


def check_options(name: str, options: dict, allowed: tuple[str, ...] = COMMON_OPTIONS) -> dict:
    """Reject options a builder does not know, listing those it does; check ``inflate``'s value.

    ``inflate`` is accepted by every builder (models with nothing to inflate ignore it), because
    the engine passes it to every model.
    """
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ModelError(f"{name}: unknown build option(s) {', '.join(unknown)} "
                         f"(valid options: {', '.join(sorted(allowed))})")
    inflate = options.get("inflate", "copy")
    if inflate not in INFLATE_CHOICES:
        raise ModelError(f"{name}: inflate must be one of {', '.join(INFLATE_CHOICES)}, got {inflate!r}")
    return options


def check_dropout(name: str, dropout) -> float:
    if not isinstance(dropout, (int, float)) or not 0.0 <= float(dropout) < 1.0:
        raise ModelError(f"{name}: dropout must be a number in [0, 1), got {dropout!r}")
    return float(dropout)


def reject_tp(spec, why: str) -> None:
    if spec.tp:
        raise ModelError(f"{spec.name}: {spec.module} does not support temporal pooling ('-tp'): {why}")
