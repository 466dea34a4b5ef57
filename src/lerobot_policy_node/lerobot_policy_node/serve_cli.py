"""``lerobot-ros-serve``: serve a checkpoint to remote robots over openpi's websocket protocol.

    lerobot-ros-serve --checkpoint outputs/act/checkpoints/last --port 8000

The robot side is the policy node with ``inference: remote`` or openpi's own ``openpi_client``. Requests use
the checkpoint's feature names (``observation.state``, ``observation.images.<camera>`` as H×W×C uint8 or
JPEG/PNG bytes, ``task``/``prompt``) in the dataset's units; replies carry the chunk under ``actions``.
Health check: ``curl http://HOST:PORT/healthz``. Exit status 2 when the checkpoint cannot be served.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from lerobot_policy_node.remote.client import API_KEY_ENV
from lerobot_policy_node.remote.server import HEALTH_PATH, Limits, PolicyServer
from lerobot_training.checkpoint import CheckpointError
from lerobot_training.features import FeatureError
from lerobot_training.policies.base import ConfigError
from lerobot_training.train_cli import user_args

PROG = "lerobot-ros-serve"
INFERENCE_NICENESS = 5


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--checkpoint", required=True, help="pretrained_model directory, its step directory, or a Hub id"
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: every interface)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000, as openpi's server)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        help=f"refuse clients without the header 'Authorization: Api-Key KEY' (default: ${API_KEY_ENV})",
    )
    parser.add_argument("--unix", metavar="PATH", help="listen on this Unix socket instead of host:port")
    # the policy node's inference process (inference: process) exits when the node's process is gone
    parser.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--device", help="cpu, cuda, ... (default: the checkpoint's, else the best here)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for inference (0: all cores)")
    parser.add_argument(
        "--max-message-mb", type=float, default=64, help="larger requests are refused (default: 64 MiB)"
    )
    return parser


async def serve_until_stopped(server: PolicyServer, args: argparse.Namespace) -> None:
    await server.start(args.host, args.port, args.unix)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    where = f"unix:{args.unix}" if args.unix else f"ws://{args.host}:{server.port}"
    health = "" if args.unix else f" (health: http://{args.host}:{server.port}{HEALTH_PATH})"
    policy = server.policy
    print(f"serving {policy.type} ({policy.checkpoint}) on {where}{health}; Ctrl-C stops", flush=True)
    if args.parent_pid:
        orphaned = loop.create_task(_stop_when_orphaned(args.parent_pid, stopped))
        # the node's control loop comes first when both want a core: it must tick on time, inference not
        os.nice(INFERENCE_NICENESS)
    await stopped.wait()
    await server.stop()
    if args.parent_pid:
        orphaned.cancel()


async def _stop_when_orphaned(parent_pid: int, stopped: asyncio.Event) -> None:
    """A killed policy node leaves no inference process behind."""
    while os.getppid() == parent_pid:
        await asyncio.sleep(0.5)
    stopped.set()


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(user_args(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.INFO, format=f"{PROG}: %(message)s")
    # Imported here: loading torch takes seconds, and --help should not wait for it.
    from lerobot_policy_node.remote.served_checkpoint import ServedCheckpoint

    try:
        threads = args.threads or os.cpu_count() or 1
        policy = ServedCheckpoint(args.checkpoint, device=args.device, threads=threads)
        policy.loaded.warm_up()
    except (CheckpointError, ConfigError, FeatureError, OSError) as error:
        print(f"{PROG}: error: cannot serve {args.checkpoint}: {error}", file=sys.stderr)
        return 2
    limits = Limits(max_message_bytes=int(args.max_message_mb * 2**20), api_key=args.api_key or None)
    try:
        asyncio.run(serve_until_stopped(PolicyServer(policy, limits), args))
    except OSError as error:  # port in use, address not available
        print(f"{PROG}: error: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
