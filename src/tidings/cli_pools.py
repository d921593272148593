"""``tidings pool add|list|remove`` and ``tidings flavor add|list|remove``: the pool catalog of
the management store (``storage.url``), changed with the admin API's checks, without a server.
Running servers see the change within ``storage.catalog_refresh`` seconds."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

from tidings import errors
from tidings.config import Settings
from tidings.service.pools import PoolService
from tidings.storage.pooled import pooled_from_url

Action = Callable[[PoolService, argparse.Namespace], Awaitable[None]]


def add_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> list[argparse.ArgumentParser]:
    """Add the ``pool`` and ``flavor`` commands; return their actions' parsers (which take
    the ``--storage`` and ``--config`` flags)."""
    pool = commands.add_parser("pool", help="register, list or remove storage pools")
    pool_actions = pool.add_subparsers(dest="action", required=True)
    add = pool_actions.add_parser("add", help="register a pool (or replace one)")
    add.add_argument("name")
    add.add_argument("uri", help="a storage URL, e.g. redis://10.0.0.5:6379/0")
    add.add_argument("--weight", type=int, default=1, help="share of new queues (default 1)")
    add.add_argument("--flavor", help="an existing flavor the pool joins")
    pool_actions.add_parser("list", help="list the pools")
    remove = pool_actions.add_parser("remove", help="remove a pool that holds no queue")
    remove.add_argument("name")

    flavor = commands.add_parser("flavor", help="define, list or remove flavors of pools")
    flavor_actions = flavor.add_subparsers(dest="action", required=True)
    add = flavor_actions.add_parser("add", help="define a flavor (or redefine one)")
    add.add_argument("name")
    add.add_argument("pools", nargs="+", help="the pools of the flavor")
    flavor_actions.add_parser("list", help="list the flavors")
    remove = flavor_actions.add_parser("remove", help="remove a flavor (its pools stay)")
    remove.add_argument("name")
    return [*pool_actions.choices.values(), *flavor_actions.choices.values()]


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Do the command against the management store (a refusal is raised as TidingsError)."""
    router = pooled_from_url(settings.storage.url)
    await router.open()
    try:
        await ACTIONS[args.command, args.action](PoolService(router, settings.limits), args)
    finally:
        await router.close()
    return 0


async def _pool_add(pools: PoolService, args: argparse.Namespace) -> None:
    document: dict[str, Any] = {"uri": args.uri, "weight": args.weight}
    if args.flavor:
        document["flavor"] = args.flavor
    created = await pools.put_pool(args.name, document)
    print(f"{'registered' if created else 'replaced'} pool {args.name}")


async def _pool_list(pools: PoolService, args: argparse.Namespace) -> None:
    for pool in await pools.catalog.pool_list(None, None):
        print(f"{pool.name}\tweight={pool.weight}\tflavor={pool.flavor or '-'}\t{pool.uri}")


async def _pool_remove(pools: PoolService, args: argparse.Namespace) -> None:
    if not await pools.delete_pool(args.name):
        raise errors.PoolNotFound(f"there is no pool {args.name}")
    print(f"removed pool {args.name}")


async def _flavor_add(pools: PoolService, args: argparse.Namespace) -> None:
    created = await pools.put_flavor(args.name, {"pool_list": args.pools})
    print(f"{'defined' if created else 'redefined'} flavor {args.name}")


async def _flavor_list(pools: PoolService, args: argparse.Namespace) -> None:
    flavors = await pools.catalog.flavor_list(None, None)
    capabilities = await pools.capabilities(flavors)
    for flavor in flavors:
        can = ",".join(capabilities[flavor.name]) or "-"
        print(f"{flavor.name}\tpools={','.join(flavor.pools) or '-'}\tcapabilities={can}")


async def _flavor_remove(pools: PoolService, args: argparse.Namespace) -> None:
    if not await pools.delete_flavor(args.name):
        raise errors.FlavorNotFound(f"there is no flavor {args.name}")
    print(f"removed flavor {args.name}")


ACTIONS: dict[tuple[str, str], Action] = {
    ("pool", "add"): _pool_add,
    ("pool", "list"): _pool_list,
    ("pool", "remove"): _pool_remove,
    ("flavor", "add"): _flavor_add,
    ("flavor", "list"): _flavor_list,
    ("flavor", "remove"): _flavor_remove,
}
