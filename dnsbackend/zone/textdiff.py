"""Where two texts of a zone file differ: the changed regions, whole lines, found cheaply.

A common prefix and suffix catch the usual edit (one region); between them the old text is
walked block by block, each compared where it should be in the new text, and after a
mismatch the next old lines are looked for a little further on, so that changes scattered
over a large file come out as small regions. Any alignment of equal text is a correct
answer (a region may be larger than the edit); only its size, not its truth, depends on
how well the walk resynchronises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

BLOCK = 4096  # characters of old text compared at a time in the walk
ANCHOR = 160  # characters of old text (from a line start) looked for to resynchronise
_LOOK_AHEAD = (0, 512, 4096, 32768, 262144)  # how far past a mismatch anchors are taken
_WINDOW = 1 << 17  # how far beyond the expected place an anchor is looked for


@dataclass
class Region:
    """Old text [old_start, old_end) became new text [new_start, new_end); all four are line
    starts (or the end of the text), and old_line/new_line the numbers of the first lines."""

    old_start: int
    old_end: int
    new_start: int
    new_end: int
    old_line: int = 0
    old_end_line: int = 0  # the number of the first line after the region
    new_line: int = 0
    new_end_line: int = 0


def common_prefix(a: str, b: str, start: int = 0, step: int = 1 << 16) -> int:
    """The length of the common prefix of a[start:] and b[start:], plus start."""
    n = min(len(a), len(b))
    i = start
    while i < n:
        j = min(i + step, n)
        if a[i:j] == b[i:j]:
            i = j
            continue
        lo, hi = i, j  # a[i:lo] == b[i:lo]; a[lo:hi] != b[lo:hi]
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if a[lo:mid] == b[lo:mid]:
                lo = mid
            else:
                hi = mid
        return lo
    return n


def common_suffix(a: str, b: str, limit: int, step: int = 1 << 16) -> int:
    """The length of the common suffix of a and b, at most `limit`."""
    la, lb = len(a), len(b)
    i = 0
    while i < limit:
        j = min(i + step, limit)
        if a[la - j:la - i] == b[lb - j:lb - i]:
            i = j
            continue
        lo, hi = i, j  # the last lo characters agree, the last hi do not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if a[la - mid:la - lo] == b[lb - mid:lb - lo]:
                lo = mid
            else:
                hi = mid
        return lo
    return limit


def changed_regions(old: str, new: str, line_of: Callable[[int], int]) -> list[Region]:
    """The regions where `new` differs from `old`, in order, whole lines, numbered
    (`line_of`: the number of the line of a line start of the old text)."""
    p = common_prefix(old, new)
    if p == len(old) == len(new):
        return []
    s = common_suffix(old, new, min(len(old), len(new)) - p)
    raw = _walk(old, new, p, len(old) - s, p, len(new) - s)
    regions = _whole_lines(old, new, raw)
    _number(old, new, regions, line_of)
    return regions


def _walk(old: str, new: str, i: int, old_end: int, j: int,
          new_end: int) -> list[tuple[int, int, int, int]]:
    """The mismatching stretches between old[i:old_end] and new[j:new_end]."""
    out: list[tuple[int, int, int, int]] = []
    while i < old_end and j < new_end:
        k = min(i + BLOCK, old_end)
        if new.startswith(old[i:k], j) and j + (k - i) <= new_end:
            j += k - i
            i = k
            continue
        x = common_prefix(old[i:k], new[j:j + (k - i)]) + i
        y = j + (x - i)
        found = _resync(old, new, x, old_end, y, new_end)
        if found is None:
            break
        out.append((x, found[0], y, found[1]))
        i, j = found
    if i < old_end or j < new_end:
        out.append((i, old_end, j, new_end))
    return out


def _resync(old: str, new: str, x: int, old_end: int, y: int,
            new_end: int) -> tuple[int, int] | None:
    """Line starts u > x, v > y from which old and new agree for a while (an anchor of old
    lines found in new), or None."""
    slack = abs(len(new) - len(old)) + _WINDOW
    for ahead in _LOOK_AHEAD:
        u = old.find("\n", x + ahead, old_end)
        if u < 0 or u + ANCHOR > old_end:
            return None
        anchor = old[u:u + ANCHOR]
        v = new.find(anchor, y, min(new_end, y + (u - x) + slack))
        if v >= 0:
            return u + 1, v + 1
    return None


def _whole_lines(old: str, new: str, raw: list[tuple[int, int, int, int]]) -> list[Region]:
    """The stretches widened to whole lines (the text around them is the same in both), and
    merged where they meet."""
    regions: list[Region] = []
    for x, u, y, v in raw:
        start = old.rfind("\n", 0, x) + 1
        y -= x - start
        x = start
        if u < len(old) and (u == 0 or old[u - 1] != "\n"):
            end = old.find("\n", u)
            end = len(old) if end < 0 else end + 1
            v += end - u
            u = end
        if regions and x <= regions[-1].old_end:
            regions[-1].old_end = max(u, regions[-1].old_end)
            regions[-1].new_end = max(v, regions[-1].new_end)
        else:
            regions.append(Region(x, u, y, v))
    return regions


def _number(old: str, new: str, regions: list[Region], line_of: Callable[[int], int]) -> None:
    """Give each region its line numbers (between regions, the texts have the same lines)."""
    delta = 0
    for r in regions:
        r.old_line = line_of(r.old_start)
        r.new_line = r.old_line + delta
        r.old_end_line = r.old_line + old.count("\n", r.old_start, r.old_end)
        r.new_end_line = r.new_line + new.count("\n", r.new_start, r.new_end)
        delta = r.new_end_line - r.old_end_line
