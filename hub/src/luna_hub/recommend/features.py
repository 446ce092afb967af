"""The context an item is ranked in for a user: the user's profile vector and the item's vector, reduced.

A user's profile is the weighted mean of the vectors of the items the user engaged with (weights
by event type, halving with age). The context of item ``i`` for that user is
``[1, cos(profile, item_i), P·profile]``: a bias, the content similarity, and the profile projected
onto :data:`PROFILE_DIMS` fixed random directions (the same on every hub: the projection is seeded
by the vector width), so each item's linear model can learn which tastes like it. A user without
a profile gets ``[1, 0, ..., 0]``: the items' biases alone, learnt from everyone.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["FEATURE_DIMS", "PROFILE_DIMS", "contexts", "profile_vector"]

PROFILE_DIMS: Final = 6
FEATURE_DIMS: Final = 2 + PROFILE_DIMS
_SEED: Final = 0x4C554E41
Floats = npt.NDArray[np.float64]


@functools.cache
def _projection(dims: int) -> Floats:
    """Return a fixed (PROFILE_DIMS, dims) Gaussian matrix scaled so a unit vector projects to about unit length."""
    matrix: Floats = np.random.default_rng(_SEED + dims).standard_normal((PROFILE_DIMS, dims)) / np.sqrt(PROFILE_DIMS)
    return matrix


def _unit(vector: Floats) -> Floats | None:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-9 else None  # noqa: PLR2004 - a vector of (almost) nothing is no profile


def profile_vector(vectors: Sequence[npt.ArrayLike], weights: Sequence[float]) -> Floats | None:
    """Return the unit weighted mean of ``vectors``; None without any or when they cancel out."""
    if not vectors:
        return None
    stacked = np.asarray(vectors, dtype=np.float64)
    return _unit(np.asarray(weights, dtype=np.float64) @ stacked)


def contexts(profile: Floats | None, items: npt.ArrayLike) -> Floats:
    """Return one context row per item (rows of ``items`` are item vectors; zero rows for unknown vectors)."""
    matrix = np.atleast_2d(np.asarray(items, dtype=np.float64))
    rows = np.zeros((matrix.shape[0], FEATURE_DIMS))
    rows[:, 0] = 1.0
    if profile is None:
        return rows
    norms = np.linalg.norm(matrix, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    rows[:, 1] = (matrix @ profile) / safe
    rows[:, 2:] = _projection(profile.shape[0]) @ profile
    return rows
