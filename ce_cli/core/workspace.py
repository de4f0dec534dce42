"""Scratch matrices that the kernel reuses from chunk to chunk instead of allocating.

A rows × classes temporary costs more to allocate than to compute with: glibc serves anything over
128 KiB with a fresh ``mmap``, so every new matrix is page-faulted in and zeroed by the kernel, and
freed again a moment later. On 1,000,000 × 100 logits that churn made the per-sample kernel about
four times slower than its arithmetic. A :class:`Workspace` keeps one flat float64 buffer per name
and hands out views of it shaped like the chunk at hand.

A workspace belongs to one thread at a time, and nothing computed from it may keep a view of it:
the kernel returns only fresh per-row arrays. Passing no workspace gives fresh arrays every call.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Float = NDArray[np.float64]


class Workspace:
    """Named, growable float64 scratch buffers.

    >>> ws = Workspace()
    >>> a = ws.matrix("a", (2, 3))
    >>> b = ws.matrix("a", (3, 2))  # the same memory, shaped anew
    >>> bool(np.shares_memory(a, b)), b.shape
    (True, (3, 2))
    """

    def __init__(self) -> None:
        self._buffers: dict[str, Float] = {}

    def matrix(self, name: str, shape: tuple[int, int], fortran: bool = False) -> Float:
        """An uninitialised float64 matrix of ``shape`` (column-major when ``fortran``)."""
        size = shape[0] * shape[1]
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size:
            buffer = np.empty(size, dtype=np.float64)
            self._buffers[name] = buffer
        return buffer[:size].reshape(shape, order="F" if fortran else "C")

    def like(self, name: str, array: NDArray[np.floating]) -> Float:
        """A float64 scratch matrix with ``array``'s shape and memory order."""
        rows, cols = array.shape
        fortran = bool(array.flags.f_contiguous and not array.flags.c_contiguous)
        return self.matrix(name, (rows, cols), fortran)


def scratch(workspace: Workspace | None, name: str, array: NDArray[np.floating]) -> Float:
    """A scratch matrix like ``array`` from ``workspace``, or a fresh one without a workspace."""
    if workspace is None:
        return np.empty_like(array, dtype=np.float64)
    return workspace.like(name, array)
