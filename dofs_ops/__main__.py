"""Command line: `python -m dofs_ops [--stage S] [--endpoint-url URL] [--region R] [--json]
list|show|redrive|keys ...` (what `make ops ARGS=...` runs). Exit status: 0 done, 1 an order unknown or
not redriven or a client without a key, 2 a bad argument, an unknown stage, an unreachable endpoint,
a stage without its usage plan or a client that has a key already (nothing changed)."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from chalicelib.errors import TransientError
from chalicelib.models import ORDER_ID_PATTERN
from chalicelib.repository import RedriveOutcome
from chalicelib.states import REDRIVE_SOURCE, OrderStatus
from dofs_config.stage import UnknownStageError, load_stage, read_config
from dofs_ops import keys, operations, render
from dofs_ops.target import Target

_ORDER_ID = re.compile(ORDER_ID_PATTERN)
_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# Redriven or already redriven: the operator's intent holds.
_DONE = frozenset({RedriveOutcome.REDRIVEN, RedriveOutcome.ALREADY_REDRIVEN})


class CommandError(Exception):
    """One line for the operator, and an exit status."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def order_id(text: str) -> str:
    if not _ORDER_ID.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an order id (1-64 of A-Z a-z 0-9 _ -)")
    return text


def status(text: str) -> OrderStatus:
    try:
        return OrderStatus(text.upper())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a status; one of {', '.join(s.value for s in OrderStatus)}"
        ) from None


def listable_status(text: str) -> OrderStatus:
    """`list --status`: a status that has an index to list it from (not FULFILLED, REJECTED)."""
    named = status(text)
    if named not in operations.LISTABLE_STATUSES:
        raise argparse.ArgumentTypeError(str(operations.NotListableError(named)))
    return named


def since(text: str, now: datetime | None = None) -> str:
    """An ISO 8601 time (UTC when it names no zone) or a span back from now: 30m, 2h, 7d."""
    relative = _RELATIVE.match(text)
    if relative:
        moment = (now or datetime.now(UTC)) - timedelta(**{_UNITS[relative[2]]: int(relative[1])})
    else:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a time: use ISO 8601 (2026-11-25T10:00:00Z) or a span such as 30m, 2h, 7d"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    # As the tables store times (chalicelib/clock.py), so that they compare as strings.
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def endpoint_url(text: str) -> str:
    if not re.match(r"^https?://[^/\s]+", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an http(s) URL, e.g. http://127.0.0.1:4566")
    return text.rstrip("/")


def page_size(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a page size from 1 to 1000")
    return int(text)


def client(text: str) -> str:
    if not keys.is_client(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a client name (1-64 of A-Z a-z 0-9 _)")
    return text


def _parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The CLI's parser, and its redrive command's (whose arguments depend on each other)."""
    # The target options go before or after the command: the subcommands' copies default to
    # SUPPRESS, so they never reset a value given before the command.
    common = argparse.ArgumentParser(add_help=False)
    parser = argparse.ArgumentParser(prog="python -m dofs_ops", description=__doc__)
    for target in (parser, common):
        suppress = target is common
        target.add_argument(
            "--stage",
            default=argparse.SUPPRESS if suppress else "local",
            help="the stage, from .chalice/config.json (default local)",
        )
        target.add_argument(
            "--endpoint-url",
            type=endpoint_url,
            default=argparse.SUPPRESS if suppress else None,
            help="an emulator's endpoint; default for the local stage http://127.0.0.1:$AWS_PORT (4566), "
            "none (AWS) for the others",
        )
        target.add_argument(
            "--region", default=argparse.SUPPRESS if suppress else None, help="default: the stage's region"
        )
        target.add_argument(
            "--json",
            action="store_true",
            default=argparse.SUPPRESS if suppress else False,
            help="machine-readable output",
        )
    commands = parser.add_subparsers(dest="command", required=True)
    show_command = commands.add_parser("show", parents=[common], help="one order's whole story")
    show_command.add_argument("order_id", type=order_id)
    show_command.add_argument(
        "--log-file", type=Path, help="the functions' JSON log lines to search (the local stack's console, saved)"
    )
    list_command = commands.add_parser(
        "list", parents=[common], help="open (ACCEPTED, PENDING, FAILED) or DEAD_LETTERED orders, oldest first"
    )
    list_command.add_argument(
        "--status", type=listable_status, required=True, help="ACCEPTED, PENDING, FAILED or DEAD_LETTERED"
    )
    list_command.add_argument(
        "--since",
        type=since,
        help="accepted or redriven (DEAD_LETTERED: dead-lettered) at or after: ISO 8601 or 30m, 2h, 7d",
    )
    list_command.add_argument("--page-size", type=page_size, default=100, help="index query page (default 100)")
    redrive_command = commands.add_parser(
        "redrive", parents=[common], help="DEAD_LETTERED orders back to PENDING, queued for a new round of attempts"
    )
    redrive_command.add_argument("order_ids", type=order_id, nargs="*", metavar="ORDER_ID")
    redrive_command.add_argument("--all", action="store_true", help="every order with --status (DEAD_LETTERED)")
    redrive_command.add_argument("--status", type=status, help="with --all: DEAD_LETTERED, the only one redriven")
    redrive_command.add_argument("--since", type=since, help="with --all: dead-lettered at or after this time")
    keys_command = commands.add_parser("keys", help="clients' API keys in the stage's usage plan")
    key_commands = keys_command.add_subparsers(dest="keys_command", required=True)
    create_command = key_commands.add_parser(
        "create", parents=[common], help="a client's API key; its value is printed once, here, and kept nowhere"
    )
    create_command.add_argument("client", type=client)
    create_command.add_argument(
        "--replace", action="store_true", help="delete the client's key first, if it has one (rotation)"
    )
    key_commands.add_parser("list", parents=[common], help="clients, key ids and enabled state (never values)")
    revoke_command = key_commands.add_parser(
        "revoke", parents=[common], help="delete a client's key; the other clients' keys keep working"
    )
    revoke_command.add_argument("client", type=client)
    return parser, redrive_command


def _check_redrive_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.all == bool(args.order_ids):
        parser.error("redrive: give ORDER_ID... or --all --status DEAD_LETTERED, not both nor neither")
    if args.all and args.status is not REDRIVE_SOURCE:
        parser.error(f"redrive --all: --status {REDRIVE_SOURCE.value} is required (only those are redriven)")
    if not args.all and (args.status is not None or args.since is not None):
        parser.error("redrive: --status and --since go with --all")


def _target(args: argparse.Namespace) -> Target:
    try:
        stage = load_stage(args.stage)
    except UnknownStageError:
        known = ", ".join(sorted(read_config()["stages"]))
        raise CommandError(f"unknown stage {args.stage!r}; known stages: {known}") from None
    endpoint = args.endpoint_url
    if endpoint is None and stage.name == "local":
        endpoint = f"http://127.0.0.1:{os.environ.get('AWS_PORT') or 4566}"
    return Target(stage=stage, region=args.region or stage.region, endpoint_url=endpoint)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run_keys(args: argparse.Namespace, target: Target) -> int:
    if args.keys_command == "create":
        created = keys.create(target, args.client, replace=args.replace)
        if args.json:
            print(render.to_json(asdict(created)))
        else:
            _progress(f"API key {created.key_id} of client {created.client} (usage plan {created.usage_plan_id}):")
            _progress("its value, below, is shown this once; send it to the client, who sends it as x-api-key")
            print(created.value)
        return 0
    if args.keys_command == "list":
        found = keys.list_keys(target)
        if args.json:
            print(render.to_json([asdict(key) for key in found]))
        else:
            rows = [[key.client, key.key_id, "yes" if key.enabled else "no", key.created] for key in found]
            print(render.table(["client", "key id", "enabled", "created"], rows))
        return 0
    revoked = keys.revoke(target, args.client)
    if args.json:
        print(render.to_json({"client": args.client, "revoked": revoked}))
    else:
        print(f"revoked client {args.client}'s API key {', '.join(revoked)}")
    return 0


def _run(args: argparse.Namespace, target: Target) -> int:
    if args.command == "keys":
        return _run_keys(args, target)
    if args.command == "show":
        try:
            story = operations.show(target, args.order_id, args.log_file)
        except OSError as error:
            raise CommandError(f"cannot read --log-file: {error}") from None
        print(render.story_json(story) if args.json else render.story_text(story))
        return 0
    if args.command == "list":
        orders = list(operations.list_orders(target, args.status, args.since, args.page_size, _progress))
        print(render.orders_json(args.status.value, args.since, orders) if args.json else render.orders_text(orders))
        return 0
    order_ids: Iterator[str] | list[str]
    if args.all:
        found = list(operations.list_orders(target, REDRIVE_SOURCE, args.since, 100, _progress))
        order_ids = [order_id for order_id, _ in found]
    else:
        order_ids = list(dict.fromkeys(args.order_ids))  # each once, in the order given
        operations.check_orders_exist(target, order_ids)
    results = operations.redrive(target, order_ids, len(order_ids), _progress)
    print(render.redrive_json(results) if args.json else render.redrive_text(results))
    return 0 if all(result.outcome in _DONE for result in results) else 1


def main(argv: list[str] | None = None) -> int:
    parser, redrive_parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "redrive":
        _check_redrive_arguments(redrive_parser, args)
    try:
        target = _target(args)
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.status
    try:
        return _run(args, target)
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.status
    except keys.UnknownClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except keys.KeysError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except operations.UnknownOrderError as error:
        print(
            f"error: no order {error} in {target.stage.orders_table} ({target.describe()}); nothing changed",
            file=sys.stderr,
        )
        return 1
    except (TransientError, BotoCoreError, ClientError) as error:
        print(f"error: {_aws_error(error, target)}", file=sys.stderr)
        return 2


def _aws_error(error: Exception, target: Target) -> str:
    cause = error.__cause__ if isinstance(error, TransientError) and error.__cause__ else error
    if isinstance(cause, EndpointConnectionError):
        endpoint = cause.kwargs.get("endpoint_url", target.endpoint_url)
        return f"cannot reach {endpoint} ({target.describe()}): is it running?"
    if isinstance(cause, NoCredentialsError):
        return f"no AWS credentials for {target.describe()}: set a profile or the AWS_* variables"
    if isinstance(cause, ClientError):
        code = cause.response.get("Error", {}).get("Code", "")
        if code in {"ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}:
            return f"{target.describe()} is not deployed there ({code}: {cause.response['Error'].get('Message', '')})"
        return f"{code}: {cause.response.get('Error', {}).get('Message', '')} ({target.describe()})"
    return f"{type(cause).__name__}: {cause} ({target.describe()})"


if __name__ == "__main__":
    sys.exit(main())
