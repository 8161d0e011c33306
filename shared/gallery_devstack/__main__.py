"""``python -m gallery_devstack run``: the whole pipeline on 127.0.0.1 until Ctrl-C.

Ports (flag > environment variable > default):

=========  ==========================  =======
service    flag / environment          default
=========  ==========================  =======
GCS        --gcs-port / DEVSTACK_GCS_PORT            4443
Pub/Sub    --pubsub-port / DEVSTACK_PUBSUB_PORT      8085
Firestore  --firestore-port / DEVSTACK_FIRESTORE_PORT  8086
function   --function-port / DEVSTACK_FUNCTION_PORT  8081
bulk lane  --bulk-function-port / DEVSTACK_BULK_FUNCTION_PORT  8082
gallery    --gallery-port / DEVSTACK_GALLERY_PORT    8080
=========  ==========================  =======

The function runs twice, once per lane: the live one takes the uploads bucket's notifications, the bulk one what
`gallery backfill`, `gallery retry --all` and `gallery import` publish (with fewer request threads and a raised
nice value, so live uploads win the CPU; docs/operations.md).

The gallery page (``python -m gallery_web``) is served at http://127.0.0.1:8080 unless ``--no-gallery``.
The client environment (``GALLERY_URL`` included) is written to ``.devstack.env`` at the repository root
and the logs go to ``.devstack/logs/``.

As on Cloud Run, a function or gallery process that dies (a crash, an out-of-memory kill) is started again on
its port, with a warning here and in its log; the emulators are not, as they would come back empty. SIGUSR1 to
the Pub/Sub emulator process restarts its push loop, its topics, subscriptions and messages kept.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from gallery_devstack.processes import REPO_ROOT, DevStackError
from gallery_devstack.stack import DevStack, DevStackConfig

DEFAULT_PORTS = {
    "gcs": 4443,
    "pubsub": 8085,
    "firestore": 8086,
    "function": 8081,
    "bulk-function": 8082,
    "gallery": 8080,
}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gallery_devstack", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the local stack and keep it up until Ctrl-C / SIGTERM")
    for service, default in DEFAULT_PORTS.items():
        env = f"DEVSTACK_{service.upper().replace('-', '_')}_PORT"
        run.add_argument(
            f"--{service}-port",
            type=int,
            default=_env_int(env, default),
            help=f"port of the {service} service (env {env}, default {default}; 0 = any free port)",
        )
    run.add_argument("--project", default=os.environ.get("DEVSTACK_PROJECT", "gallery-local"), help="project id")
    run.add_argument(
        "--function-source",
        type=Path,
        default=REPO_ROOT / "functions" / "thumbnailer" / "main.py",
        help="functions-framework --source (default functions/thumbnailer/main.py)",
    )
    run.add_argument("--function-target", default="handle", help="functions-framework --target (default handle)")
    run.add_argument(
        "--no-function", action="store_true", help="do not start the functions, either lane (run them yourself)"
    )
    run.add_argument("--no-gallery", action="store_true", help="do not serve the gallery page")
    run.add_argument(
        "-e",
        "--function-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment variable for the function (repeatable)",
    )
    run.add_argument(
        "--min-backoff",
        type=float,
        default=_env_float("DEVSTACK_MIN_BACKOFF", 1.0),
        help="push retry minimum backoff in seconds (env DEVSTACK_MIN_BACKOFF, default 1)",
    )
    run.add_argument(
        "--max-backoff",
        type=float,
        default=_env_float("DEVSTACK_MAX_BACKOFF", 30.0),
        help="push retry maximum backoff in seconds (env DEVSTACK_MAX_BACKOFF, default 30)",
    )
    run.add_argument(
        "--max-delivery-attempts",
        type=int,
        default=_env_int("DEVSTACK_MAX_DELIVERY_ATTEMPTS", 10),
        help="deliveries before a message goes to the dead-letter topic (default 10, above MAX_ATTEMPTS)",
    )
    for flag, default, what in (
        ("bulk-concurrency", 4, "request threads of the bulk lane's function"),
        ("bulk-nice", 10, "nice value of the bulk lane's function (0 = as the live one)"),
    ):
        env = f"DEVSTACK_{flag.upper().replace('-', '_')}"
        run.add_argument(
            f"--{flag}", type=int, default=_env_int(env, default), help=f"{what} (env {env}, default {default})"
        )
    run.add_argument(
        "--ack-deadline", type=int, default=60, help="push subscription ack deadline / push timeout (default 60 s)"
    )
    run.add_argument("--log-dir", type=Path, default=REPO_ROOT / ".devstack" / "logs", help="where logs go")
    run.add_argument("--env-file", type=Path, default=REPO_ROOT / ".devstack.env", help="client env file to write")
    run.add_argument(
        "--pubsub-emulator-host",
        default=os.environ.get("DEVSTACK_EXTERNAL_PUBSUB_HOST") or None,
        help="use this running Pub/Sub emulator (host:port, e.g. Google's) instead of starting one",
    )
    run.add_argument("--log-level", default="INFO", help="log level of this process (default INFO)")
    return parser


def _parse_env_pairs(pairs: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--function-env expects KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


def _instructions(stack: DevStack, env_file: Path) -> str:
    c = stack.config
    env = stack.env()
    try:
        shown_env = env_file.relative_to(Path.cwd())
    except ValueError:
        shown_env = env_file
    upload = (
        'python -c "import sys; from google.cloud import storage; '
        f"storage.Client().bucket('{c.uploads_bucket}').blob(sys.argv[1].rsplit('/', 1)[-1])"
        '.upload_from_filename(sys.argv[1])" photo.jpg'
    )
    curl = (
        f"curl -sS -X POST -H 'Content-Type: image/jpeg' --data-binary @photo.jpg "
        f"'{stack.gcs_url}/upload/storage/v1/b/{c.uploads_bucket}/o?uploadType=media&name=photo.jpg'"
    )
    lines = [
        "[bold green]gallery dev stack is up[/]",
        "",
        f"  Cloud Storage (fake-gcs)  {env['STORAGE_EMULATOR_HOST']}",
        f"  buckets                   {c.uploads_bucket} (uploads), {c.renditions_bucket} (renditions)",
        f"  Pub/Sub emulator          {env['PUBSUB_EMULATOR_HOST']}",
        f"  Firestore emulator        {env['FIRESTORE_EMULATOR_HOST']}   collection {c.photos_collection}",
        f"  live lane                 topic {stack.topic_path} → {stack.push_subscription_path}",
        f"    function                {stack.function_url}" + ("" if stack.running("function") else "   (not started)"),
        f"  bulk lane                 topic {stack.bulk_topic_path} → {stack.bulk_push_subscription_path}",
        f"    function                {stack.bulk_function_url}"
        + (
            f"   ({c.bulk_request_concurrency} request threads, nice {c.bulk_nice})"
            if stack.running("bulk_function")
            else "   (not started)"
        ),
        f"  dead letters              {stack.dead_letter_subscription_path}",
        f"  renditions served at      {env['RENDITIONS_BASE_URL']}/...",
        f"  gallery page              {env['GALLERY_URL']}" + ("" if stack.running("gallery") else "   (not started)"),
        "",
        f"  client environment        {shown_env}   (set -a; . {shown_env}; set +a)",
        f"  logs                      {stack.log_dir}",
        "",
        "[bold]Drop a photo in:[/]",
        f"  set -a; . {shown_env}; set +a",
        f"  {upload}",
        "or without Python:",
        f"  {curl}",
        "(or `make demo` / `gallery drop FILE`), then watch them arrive at " + env["GALLERY_URL"],
        "",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    console = Console(soft_wrap=True)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    config = DevStackConfig(
        project=args.project,
        gcs_port=args.gcs_port,
        pubsub_port=args.pubsub_port,
        firestore_port=args.firestore_port,
        function_port=args.function_port,
        bulk_function_port=args.bulk_function_port,
        bulk_request_concurrency=args.bulk_concurrency,
        bulk_nice=args.bulk_nice,
        gallery_port=args.gallery_port,
        min_backoff_seconds=args.min_backoff,
        max_backoff_seconds=args.max_backoff,
        max_delivery_attempts=args.max_delivery_attempts,
        ack_deadline_seconds=args.ack_deadline,
        log_dir=args.log_dir,
        function_source=args.function_source,
        function_target=args.function_target,
        function_env=_parse_env_pairs(args.function_env),
        start_function=not args.no_function,
        start_gallery=not args.no_gallery,
        external_pubsub_host=args.pubsub_emulator_host,
    )
    ports = [
        config.gcs_port,
        config.pubsub_port,
        config.firestore_port,
        config.function_port,
        config.bulk_function_port,
    ]
    if config.start_gallery and config.gallery_port and config.gallery_port in ports:
        console.print(f"[bold red]port {config.gallery_port} is taken by another service; pass --gallery-port[/]")
        return 2
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    stack = DevStack(config)
    try:
        stack.start()
    except DevStackError as err:
        console.print(f"[bold red]dev stack failed to start:[/] {err}")
        return 1
    env_file = stack.write_env_file(args.env_file)
    try:
        console.print(_instructions(stack, env_file), highlight=False)
        while not stop.wait(0.5):
            pass
        console.print("stopping the dev stack ...")
    finally:
        stack.stop()
        env_file.unlink(missing_ok=True)
    console.print("stopped.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return run(args)
    return 2  # pragma: no cover - argparse enforces the command


if __name__ == "__main__":
    raise SystemExit(main())
