"""Text from the data (file, column and class names, ids, values) made safe to print.

Control characters would let a file drive the terminal that shows a report or an error
(clear the screen, recolour, retitle the window) and would break the promise of one line on
stderr. C0 controls, DEL and the C1 controls (U+0080..U+009F, which include the 8-bit CSI)
are shown escaped instead.
"""

from __future__ import annotations

_CONTROL = {c: f"\\x{c:02x}" for c in (*range(32), *range(127, 160))}
_CONTROL.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def printable(text: object) -> str:
    r"""``str(text)`` with control characters escaped.

    >>> printable("\x1b[31mred\n")
    '\\x1b[31mred\\n'
    """
    return str(text).translate(_CONTROL)
