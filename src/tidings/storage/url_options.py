"""Options of a storage URL's query that are the driver's own, not the server's."""

from __future__ import annotations

from collections.abc import Sequence

POOL_SIZES = range(1, 1001)
"""The connections a pool may be allowed (``pool_size``)."""


def pool_size(query: Sequence[tuple[str, str]], default: int) -> int:
    """The ``pool_size`` the query's pairs give, else ``default``; ValueError unless it is given
    once, as a count within POOL_SIZES."""
    sizes = [value for name, value in query if name == "pool_size"]
    if not sizes:
        return default
    size = sizes[-1]
    if len(sizes) > 1 or not size.isdecimal() or int(size) not in POOL_SIZES:
        raise ValueError(
            f"pool_size must be given once, as a whole number from {POOL_SIZES.start} to "
            f"{POOL_SIZES.stop - 1}; got {', '.join(sizes)!r}"
        )
    return int(size)
