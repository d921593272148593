"""What the drivers read from their storage URLs, each in one place for a driver and its pool
catalog (or for two drivers): the SQLite file, and the query's options that are the driver's
own, not the server's."""

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


def database_path(url: str) -> str:
    """The file (or ``:memory:``) a ``sqlite:///`` URL names; ValueError for any other URL,
    and for one with a query, which would otherwise become part of the file's name."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == prefix:
        raise ValueError("SQLite URLs look like sqlite:///path/to/file.db or sqlite:///:memory:")
    if "?" in url:
        raise ValueError(f"SQLite URLs take no parameter; got {url[url.index('?') :]!r}")
    return url[len(prefix) :]


def only_parameters(
    query: Sequence[tuple[str, str]], allowed: Sequence[str], urls: str
) -> dict[str, str]:
    """The query's parameters by name; ValueError for one the driver would ignore (not in
    ``allowed``), one given twice and one left empty. ``urls`` names the URLs in the
    message."""
    names = [name for name, _ in query]
    unknown = sorted(set(names).difference(allowed))
    if unknown:
        raise ValueError(
            f"{urls} take no parameter but {', '.join(allowed[:-1])} and {allowed[-1]};"
            f" got {', '.join(unknown)}"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{' and '.join(repeated)} must be given once")
    empty = [name for name, value in query if not value]
    if empty:
        raise ValueError(f"{empty[0]} is empty: give it a value or leave it out")
    return dict(query)
