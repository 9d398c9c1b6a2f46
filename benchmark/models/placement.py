"""Which of a network's temporal-operator points get an operator (paper 002 Table 6).

Points are in network order, input first; "top" means closer to the output (the paper's wording).
A half is ⌈n/2⌉ points: ``top-half`` the last ones, ``bottom-half`` the first ones, ``uniform-half``
every other point from the first (on ResNet-18: the first block of each stage).
"""

from __future__ import annotations

from benchmark.errors import ModelError

PLACEMENTS = ("all", "top-half", "bottom-half", "uniform-half")


def placement_indices(placement: str, count: int, where: str = "placement") -> list[int]:
    """The indices (0 = nearest the input) of the ``count`` points that ``placement`` keeps."""
    if placement not in PLACEMENTS:
        raise ModelError(f"{where} must be one of {', '.join(PLACEMENTS)}, got {placement!r}")
    half = (count + 1) // 2
    if placement == "all":
        return list(range(count))
    if placement == "top-half":
        return list(range(count - half, count))
    if placement == "bottom-half":
        return list(range(half))
    return list(range(0, count, 2))
