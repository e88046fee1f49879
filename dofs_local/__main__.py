"""Command line: `python -m dofs_local serve|demo|chaos|bench` (what `make local`, `make demo`,
`make chaos` and `make bench` run)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from chalicelib.settings import DEFAULT_SUCCESS_RATE
from dofs_config.stage import PROJECT_DIR
from dofs_local.emulated.api_keys import MIN_KEY_LENGTH
from dofs_local.emulated.faults import FaultSettings
from dofs_local.emulated.pipeline import LOCAL_CLIENT, LocalPipeline, PipelineOptions, PortInUseError
from dofs_local.measurement import bench
from dofs_local.scenarios import chaos, demo


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def _rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number between 0 and 1") from None
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return rate


def effective_success_rate(option: float | None) -> tuple[float, str]:
    """The fulfillment success rate the stack's functions run with, and where it comes from: the
    option, else FULFILLMENT_SUCCESS_RATE from the environment, else the functions' default."""
    if option is not None:
        return option, "--success-rate"
    configured = os.environ.get("FULFILLMENT_SUCCESS_RATE")
    if configured:
        return _rate(configured), "FULFILLMENT_SUCCESS_RATE"
    return DEFAULT_SUCCESS_RATE, "the default"


def serve(args: argparse.Namespace) -> int:
    stopping = threading.Event()
    # Explicit handlers: a shell that starts us in the background makes us ignore SIGINT.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    rate, source = effective_success_rate(args.success_rate)
    options = PipelineOptions(
        api_port=args.port,
        aws_port=args.aws_port,
        success_rate=args.success_rate,
        faults=_faults(args),
        require_api_key=args.require_api_key,
    )
    with LocalPipeline(options) as stack:
        assert stack.resources is not None
        print(
            f"""
DOFS local stack (stage {stack.stage.name}) is up. Ctrl-C stops it.
  API           {stack.api_url}   POST /order, GET /order/{{order_id}}
  AWS emulator  {stack.aws_endpoint}   aws --endpoint-url {stack.aws_endpoint} ...
  tables        {stack.stage.orders_table}, {stack.stage.failed_orders_table}
  queues        {stack.resources.order_queue_url}
                {stack.resources.order_dlq_url}
  workflow      {stack.resources.state_machine_arn}
  success rate  {rate} ({source})
  faults        {options.faults.describe()}
  API key       {_api_key_line(options.require_api_key)}
Function logs follow, one JSON line per operation.
""",
            flush=True,
        )
        stopping.wait()
        print("\nstopping...", flush=True)
    print("stopped", flush=True)
    return 0


def _api_key(text: str) -> str:
    if 0 < len(text) < MIN_KEY_LENGTH:
        raise argparse.ArgumentTypeError(f"an API key is at least {MIN_KEY_LENGTH} characters (API Gateway's rule)")
    return text


def _api_key_line(require_api_key: str | None) -> str:
    if require_api_key is None:
        return "not required"
    given = f" (client {LOCAL_CLIENT} has the one given)" if require_api_key else ""
    return f"required: a key of the stage's usage plan (python -m dofs_ops keys create CLIENT){given}"


def _faults(args: argparse.Namespace) -> FaultSettings:
    try:
        return FaultSettings.parse(args.faults, args.fault_seed)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _add_stack_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--port", type=int, default=_port("PORT", 8000), help="API port (env PORT)")
    command.add_argument("--aws-port", type=int, default=_port("AWS_PORT", 4566), help="emulator port (env AWS_PORT)")
    command.add_argument(
        "--success-rate", type=_rate, default=None, help="fulfillment success rate, 0..1 (env FULFILLMENT_SUCCESS_RATE)"
    )


def _add_fault_options(command: argparse.ArgumentParser, default: str) -> None:
    command.add_argument(
        "--faults",
        default=default,
        help=f"fault probabilities, e.g. all=0.05 or throttle=0.1,lambda_timeout=0.02 (default {default!r})",
    )
    command.add_argument("--fault-seed", type=int, default=int(os.environ.get("DOFS_FAULT_SEED") or 0))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dofs_local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_command = commands.add_parser("serve", help="run the local pipeline until Ctrl-C")
    _add_stack_options(serve_command)
    _add_fault_options(serve_command, os.environ.get("DOFS_FAULTS", ""))
    serve_command.add_argument(
        "--require-api-key",
        metavar="KEY",
        type=_api_key,
        nargs="?",
        const="",
        default=os.environ.get("DOFS_REQUIRE_API_KEY") or None,
        help="answer 403 to requests whose x-api-key is not a key of the stage's usage plan, as API Gateway does "
        "(keys: python -m dofs_ops keys create CLIENT); KEY, at least 20 characters, is made client local's key "
        "(env DOFS_REQUIRE_API_KEY; default: no key required)",
    )
    demo_command = commands.add_parser("demo", help="run the pipeline end to end")
    _add_stack_options(demo_command)
    demo_command.add_argument("--orders", type=int, default=50, help="orders to post (default 50)")
    demo_command.add_argument("--seed", type=int, default=1, help="seed of the order mix (default 1)")
    demo_command.add_argument("--log-file", type=Path, default=PROJECT_DIR / ".dofs" / "demo-logs.jsonl")
    chaos_command = commands.add_parser("chaos", help="run the pipeline under injected faults and check the invariants")
    _add_stack_options(chaos_command)
    _add_fault_options(chaos_command, chaos.DEFAULT_FAULTS)
    chaos_command.add_argument("--orders", type=int, default=1000, help="orders to post (default 1000)")
    chaos_command.add_argument("--seed", type=int, default=1, help="seed of the order mix (default 1)")
    chaos_command.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for terminal states")
    chaos_command.add_argument("--log-file", type=Path, default=PROJECT_DIR / ".dofs" / "chaos-logs.jsonl")
    chaos_command.add_argument("--figures", type=Path, default=PROJECT_DIR / ".dofs" / "chaos-figures.json")
    bench_command = commands.add_parser("bench", help="throughput, latency, cold start, $/order")
    bench_command.add_argument(
        "--rates", default="5,10,25,50", help="fixed request rates, orders/s (default 5,10,25,50)"
    )
    bench_command.add_argument("--duration", type=float, default=20.0, help="seconds of sending per phase (default 20)")
    bench_command.add_argument("--clients", type=int, default=32, help="concurrent HTTP clients at most (default 32)")
    bench_command.add_argument("--success-rate", type=_rate, default=1.0, help="fulfillment success rate (default 1.0)")
    bench_command.add_argument("--out", type=Path, default=PROJECT_DIR / ".dofs" / "bench")
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return serve(args)
    if args.command == "chaos":
        return chaos.main(
            args.orders,
            _faults(args),
            args.seed,
            args.port,
            args.aws_port,
            args.log_file,
            args.success_rate,
            args.timeout,
            args.figures,
        )
    if args.command == "bench":
        rates = [float(rate) for rate in args.rates.split(",") if rate]
        return bench.main(rates, args.duration, args.clients, args.success_rate, args.out)
    rate, _ = effective_success_rate(args.success_rate)
    return demo.main(args.orders, rate, args.seed, args.port, args.aws_port, args.log_file)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except argparse.ArgumentTypeError as error:  # a bad --faults value
        parser.error(str(error))
    except PortInUseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
