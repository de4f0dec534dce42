r"""Smooth ECE (Błasiok & Nakkiran 2023), computed as ``relplot.smECE`` computes it.

The residuals ``r = c − o`` are kernel-smoothed along the confidence axis with a Gaussian kernel
of bandwidth σ reflected at 0 and 1, and weighed by the smoothed density of confidences:

.. math::

    \mathrm{smECE}_\sigma = \frac{\sum_t |\hat r_\sigma(t)|\, \hat\delta_\sigma(t)}
                                 {\sum_t \hat\delta_\sigma(t)}, \qquad
    \sigma^* : \ \mathrm{smECE}_{\sigma^*} = \sigma^*

over an evaluation mesh ``t``. As relplot does, the events are first spread linearly onto a grid
of ``max(2000, round(20/σ)) // 2 + 1`` points, the grid is convolved with the reflected kernel and
read at the mesh by linear interpolation; σ* is found by relplot's search (σ = 1 if it already
satisfies ``σ ≥ smECE_σ``, else ten halvings of [0, 1]), and the density carries relplot's
``+1e-4``. Weighted events count as that many repeated ones. Imports NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Float = NDArray[np.float64]

MESH_POINTS = 200  # relplot.config.smECE_mesh_pts
DENSITY_EPS = 1e-4  # relplot's BaseKernelMixin.smooth eps
SEARCH_STEPS = 10
SEARCH_FLOOR = 0.001  # relplot.smECE's eps: a bandwidth below it is accepted as is
PLOT_POINTS = 201


def _grid_points(sigma: float) -> int:
    return int(max(2000, round(20 / sigma))) // 2 + 1


def _deposit(position: Float, amount: Float, points: int) -> Float:
    """Spread each amount linearly between the two grid points around its position."""
    scaled = position * (points - 1)
    index = np.clip(scaled.astype(np.intp), 0, points - 2)
    frac = scaled - index
    grid = np.zeros(points)
    np.add.at(grid, index, (1.0 - frac) * amount)
    np.add.at(grid, index + 1, frac * amount)
    return grid


def _reflected_convolution(values: Float, sigma: float, direct: bool = False) -> Float:
    """relplot's ``ReflectedGaussianKernel.convolve``: by FFT (same sums to rounding), or with
    ``direct`` by summing the products themselves.

    The FFT's error is absolute, about 1e-16 of the largest value, so a ratio of two smoothed
    sums read where the density is thin keeps few digits, and a 1-ulp change in one confidence
    moves it by far more than an ulp. The direct sum's error is relative to each point's own
    terms; it is used where such ratios are reported (the curve), with the kernel cut where it
    underflows to 0, so it costs about ``3 · points · 77σ·points`` products.
    """
    points = len(values)
    t = np.linspace(0, 1, points)
    kernel = np.exp(-(t - 0.5) * (t - 0.5) / (2 * sigma * sigma)) / (np.sqrt(2 * np.pi) * sigma)
    extended = np.concatenate([np.flip(values)[:-1], values, np.flip(values)[1:]])
    start = points - 1 + points // 2
    if direct:
        kept = np.flatnonzero(kernel)
        lo, hi = int(kept[0]), int(kept[-1]) + 1
        full = np.convolve(extended, kernel[lo:hi])
        return np.asarray(full[start - lo : start - lo + points])
    size = len(extended) + points - 1
    fft_size = 1 << (size - 1).bit_length()
    full = np.fft.irfft(np.fft.rfft(extended, fft_size) * np.fft.rfft(kernel, fft_size), fft_size)
    return np.asarray(full[start : start + points])


def _interpolate(t: Float, grid: Float) -> Float:
    cells = len(grid)
    step = 1 / (cells - 1)
    index = np.clip((t * (cells - 1)).astype(np.intp), 0, cells - 2)
    residual = (t - index * step) / step
    return np.asarray(grid[index] * (1 - residual) + grid[index + 1] * residual)


def _smoothed(
    position: Float,
    amount: Float,
    sigma: float,
    t: Float,
    grids: dict[int, Float] | None = None,
    direct: bool = False,
) -> Float:
    points = _grid_points(sigma)
    if grids is None:
        grid = _deposit(position, amount, points)
    elif points in grids:  # the search reuses a deposit for every bandwidth with that grid
        grid = grids[points]
    else:
        grid = grids[points] = _deposit(position, amount, points)
    return _interpolate(t, _reflected_convolution(grid, sigma, direct))


def smooth_ece_at(
    position: Float,
    weight: Float,
    residual: Float,
    sigma: float,
    grids: tuple[dict[int, Float], dict[int, Float]] | None = None,
) -> float:
    """smECE at a fixed bandwidth: events at ``position`` with ``weight`` and weighted residual
    sums ``residual`` (``Σ s (c − o)`` of the events there)."""
    t = np.linspace(0, 1, max(round(10 / sigma), MESH_POINTS))
    r = _smoothed(position, residual, sigma, t, None if grids is None else grids[0])
    density = _smoothed(position, weight, sigma, t, None if grids is None else grids[1])
    return float(np.sum(np.abs(r)) / np.sum(density + DENSITY_EPS))


def smooth_ece_bandwidth(position: Float, weight: Float, residual: Float) -> tuple[float, float]:
    """(smECE, σ*) with relplot's bandwidth search."""

    grids: tuple[dict[int, Float], dict[int, Float]] = ({}, {})

    def small_enough(sigma: float) -> bool:
        if sigma < SEARCH_FLOOR:
            return True
        return sigma < smooth_ece_at(position, weight, residual, sigma, grids)

    sigma = 1.0
    if not small_enough(sigma):
        high, low = 1.0, 0.0
        for _ in range(SEARCH_STEPS):
            mid = (high + low) / 2
            if small_enough(mid):
                low = mid
            else:
                high = mid
        sigma = high
    return smooth_ece_at(position, weight, residual, sigma, grids), sigma


def smooth_calibration_error(
    confidence: NDArray[np.floating],
    outcome: NDArray[np.floating],
    sample_weight: NDArray[np.floating] | None = None,
) -> tuple[float, float]:
    """Smooth ECE and its bandwidth σ* from the events themselves (``relplot.smECE(f, y,
    return_width=True)`` for unit weights).

    >>> value, sigma = smooth_calibration_error(np.array([0.2, 0.4, 0.6, 0.8]),
    ...                                         np.array([0, 0, 1, 1]))
    >>> round(value, 6), sigma
    (0.177126, 0.177734375)
    """
    c = np.asarray(confidence, dtype=np.float64)
    o = np.asarray(outcome, dtype=np.float64)
    s = np.ones_like(c) if sample_weight is None else np.asarray(sample_weight, np.float64)
    return smooth_ece_bandwidth(c, s, s * (c - o))


@dataclass(frozen=True)
class SmoothCurve:
    """The smoothed reliability curve at σ*, for plots: accuracy and confidence density on a
    mesh of ``[0, 1]`` (accuracy ``None`` where the density is nil)."""

    bandwidth: float
    grid: list[float]
    accuracy: list[float | None]
    density: list[float]


def smooth_curve(
    position: Float, weight: Float, residual: Float, sigma: float, points: int = PLOT_POINTS
) -> SmoothCurve:
    """Smoothed accuracy ``t − r̂(t)/δ̂(t)`` and density (integrating to 1) at ``points``."""
    t = np.linspace(0, 1, points)
    r = _smoothed(position, residual, sigma, t, direct=True)
    d = _smoothed(position, weight, sigma, t, direct=True)
    mass = float(np.sum(d)) / (points - 1)
    floor = 1e-9 * float(d.max()) if d.size else 0.0
    accuracy: list[float | None] = [
        (float(np.clip(x - ri / di, 0.0, 1.0)) if di > floor else None)
        for x, ri, di in zip(t, r, d, strict=True)
    ]
    return SmoothCurve(
        bandwidth=sigma,
        grid=[float(x) for x in t],
        accuracy=accuracy,
        density=[float(x / mass) if mass > 0 else 0.0 for x in d],
    )
