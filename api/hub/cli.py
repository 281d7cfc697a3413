"""`gpupulse-api hosts add NAME | list | revoke NAME`: the hub's per-host tokens.

`add` prints a new token once (stdout, alone on its line, so `TOKEN=$(gpupulse-api hosts
add box1)` works); the hub keeps only its sha256. Adding a host again replaces its token.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from api.hub.hosts import ALL_HOSTS
from api.settings import ApiSettings
from protocol.fields import Invalid, text
from runtime.kinds import Misfit, TimeZone
from store import hub as hubstore
from store import open_db

COMMANDS = ("hosts",)


def add_commands(
    sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser] | None = None
) -> None:
    """The `hosts` subcommand and its actions; `parents` add the api's shared options."""
    hosts = sub.add_parser(
        "hosts", parents=parents or [], help="hub: add, list or revoke pushing hosts' tokens"
    )
    hosts.add_argument("action", choices=("add", "list", "revoke"))
    hosts.add_argument("name", nargs="?", help="host name (its GPUPULSE_HOST_ID) for add/revoke")
    hosts.add_argument("--format", choices=("table", "json"), default="table", help="for list")
    hosts.add_argument(
        "--targoman",
        action="store_true",
        help="add: the host runs Targoman gpu_monitor's client; its token may come as its "
        "X-Contract-Number (set the token as the client's server.contract_number)",
    )
    hosts.add_argument(
        "--tz",
        metavar="ZONE",
        help="add --targoman: the zone of the client's zone-less times (default GPUPULSE_TZ)",
    )


class HostNameError(ValueError):
    """A host name the hub cannot use; the message says what fits."""


def host_name(name: str | None) -> str:
    """The NAME argument checked: printable, at most 128 characters, not `all`."""
    if not name:
        raise HostNameError("hosts add/revoke need a NAME (the host's GPUPULSE_HOST_ID)")
    try:
        text({"name": name}, "name", "host ", required=True, most=128)
    except Invalid as problem:
        raise HostNameError(problem.message) from None
    if name == ALL_HOSTS or name != name.strip():
        raise HostNameError(f"host name {name!r} is reserved or has surrounding spaces")
    return name


def host_zone(tz: str | None, targoman: bool) -> str | None:
    """The --tz argument checked: an IANA zone, given only with --targoman."""
    if tz is None:
        return None
    if not targoman:
        raise HostNameError("--tz applies only with --targoman (Targoman's zone-less times)")
    try:
        TimeZone().parse(tz)
    except Misfit as problem:
        raise HostNameError(f"--tz {tz!r} {problem}, e.g. Europe/Berlin") from None
    return tz


def run(
    args: argparse.Namespace, settings: ApiSettings, clock: Callable[[], float] = time.time
) -> int:
    """Do one `hosts` action; 0 on success, 1 (one line on stderr) when nothing matched."""
    try:
        name = None if args.action == "list" else host_name(args.name)
        zone = host_zone(args.tz, args.targoman)
    except HostNameError as problem:
        print(f"gpupulse-api hosts: {problem}", file=sys.stderr)
        return 2
    conn = open_db(args.db or settings.db, write=args.action != "list")
    try:
        if args.action == "add":
            print(hubstore.add_host(conn, name, clock(), targoman=args.targoman, tz=zone))
            print(
                f"token for {name}: set it as GPUPULSE_PUSH_TOKEN on that host; "
                "it is not shown again",
                file=sys.stderr,
            )
            return 0
        if args.action == "revoke":
            if hubstore.revoke_host(conn, name, clock()):
                print(f"revoked {name}: its token no longer works (its data stays)")
                return 0
            print(f"gpupulse-api hosts: no host {name!r} with a working token", file=sys.stderr)
            return 1
        show(hubstore.list_hosts(conn), args.format)
        return 0
    finally:
        conn.close()


def show(hosts: list[dict], fmt: str) -> None:
    """Print the host list as a table or JSON."""
    if fmt == "json":
        print(json.dumps(hosts))
        return
    print(f"{'host':<32} {'source':<8} {'token':<8} {'last ingest':<20} last status")
    for h in hosts:
        token = "revoked" if h["revoked"] else ("-" if h["source"] == "pull" else "active")
        source = "targoman" if h["targoman"] else h["source"]
        print(
            f"{h['name']:<32} {source:<8} {token:<8} {_when(h['last_ingest']):<20} "
            f"{_when(h['last_status'])}"
        )


def _when(ts: int | None) -> str:
    return "never" if ts is None else time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ts))
