"""The whole local stack in one object: Pub/Sub emulator, fake-gcs-server, Firestore emulator, the function
(one process per lane, live and bulk), and (with ``start_gallery=True``) the gallery page (``python -m gallery_web``).

    with DevStack(DevStackConfig(log_dir=tmp)) as stack:
        env = stack.env()   # GOOGLE_CLOUD_PROJECT, STORAGE_EMULATOR_HOST, ... for clients
        ...

Start order matters: the Pub/Sub topic must exist before fake-gcs-server publishes its first event (it drops
events for a missing topic), and the push subscriptions are created once the functions listen.

Lanes, as Terraform deploys them: the bucket's notifications go to the live topic, pushed to the ``function``
process; `gallery backfill` / `retry --all` / `import` publish to the bulk topic, pushed to the ``bulk_function``
process (same source, its own port, fewer request threads, its own retry and dead-letter policy). On Cloud Run
the lanes are separate services with separate instances; here they share the machine's cores, so the bulk
process runs at a raised nice value: when both lanes have work, the kernel gives live renders the CPU first, and
bulk renders use what is left (docs/operations.md).

The function processes and the gallery page are supervised as Cloud Run supervises instances: one that dies on
its own (a crash, an out-of-memory kill) is started again on the same port (`ManagedProcess.restart_on_exit`;
its `restarts` counts how often). The emulators are not: they hold their state in memory, and a silently
restarted empty emulator would hide the loss. The Pub/Sub emulator's push loop alone can be restarted, state
kept, with `DevStack.restart_pubsub_push_loop`.

Nothing here touches ``os.environ``; every client it builds is pointed at the stack explicitly.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, get_args

import grpc
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.pubsub_v1.services.publisher import PublisherClient
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
from google.pubsub_v1.services.subscriber import SubscriberClient
from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

from gallery.settings import Settings
from gallery_devstack import processes
from gallery_devstack.processes import LOCALHOST, REPO_ROOT, ManagedProcess
from gallery_devstack.pubsub_emulator import PUSH_LOOP_RESTARTED, PubSubEmulator

logger = logging.getLogger(__name__)

FIRESTORE_WRITES = "FIRESTORE_EMULATOR_WRITES"
ServiceName = Literal["pubsub", "gcs", "firestore", "function", "bulk_function", "gallery"]
SERVICES: tuple[ServiceName, ...] = get_args(ServiceName)

ENV_FILE_KEYS: tuple[str, ...] = (
    "GOOGLE_CLOUD_PROJECT",
    "STORAGE_EMULATOR_HOST",
    "PUBSUB_EMULATOR_HOST",
    "FIRESTORE_EMULATOR_HOST",
    "UPLOADS_BUCKET",
    "RENDITIONS_BUCKET",
    "PHOTOS_COLLECTION",
    "RENDITIONS_BASE_URL",
    "FUNCTION_URL",
    "PUBSUB_TOPIC",
    "DEAD_LETTER_SUBSCRIPTION",
    "GALLERY_URL",
    "PUBSUB_BULK_TOPIC",
    "LIVE_SUBSCRIPTION",
    "BULK_SUBSCRIPTION",
    "BULK_FUNCTION_URL",
)
CLIENT_ONLY_KEYS = frozenset(
    {
        "FUNCTION_URL",
        "DEAD_LETTER_SUBSCRIPTION",
        "GALLERY_URL",
        "LIVE_SUBSCRIPTION",
        "BULK_SUBSCRIPTION",
        "BULK_FUNCTION_URL",
    }
)
"""What clients need but the function processes do not get."""


_AUTO_PORT_FIELDS: dict[ServiceName, str] = {
    "gcs": "gcs_port",
    "firestore": "firestore_port",
    "function": "function_port",
    "bulk_function": "bulk_function_port",
    "gallery": "gallery_port",
}
"""The services started as subprocesses, and the DevStackConfig / DevStack attribute holding each one's port."""


@dataclass
class DevStackConfig:
    """What the local stack runs and how it is wired. Port 0 means "pick a free port" (fixed for the run)."""

    project: str = "gallery-local"
    uploads_bucket: str = "gallery-uploads"
    renditions_bucket: str = "gallery-renditions"
    photos_collection: str = "photos"
    topic: str = "gallery-uploads-events"
    """The live lane's topic: the uploads bucket's notifications."""
    push_subscription: str = "thumbnailer-push"
    bulk_topic: str = "gallery-bulk-events"
    """The bulk lane's topic: what `gallery backfill`, `gallery retry --all` and `gallery import` publish."""
    bulk_push_subscription: str = "thumbnailer-bulk-push"
    dead_letter_topic: str = "gallery-uploads-dead-letter"
    dead_letter_subscription: str = "gallery-uploads-dead-letter-sub"
    dead_letter_recorder_subscription: str = "dead-letter-recorder"
    """Push subscription on the dead-letter topic to the function's ``/dead-letters`` path (as Terraform wires it)."""
    gcs_port: int = 0
    pubsub_port: int = 0
    firestore_port: int = 0
    function_port: int = 0
    bulk_function_port: int = 0
    gallery_port: int = 0
    min_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    max_delivery_attempts: int = 10
    """As Terraform: above the function's MAX_ATTEMPTS (5), so the function records a failing photo first."""
    bulk_min_backoff_seconds: float = 5.0
    bulk_max_backoff_seconds: float = 60.0
    """The bulk lane's push retry policy (its dead-letter policy uses max_delivery_attempts and the shared topic)."""
    bulk_request_concurrency: int = 4
    """Request threads of the bulk function process (the live one keeps functions-framework's 4 per core)."""
    bulk_nice: int = 10
    """Nice value of the bulk function process: live renders win the CPU when both lanes are busy."""
    ack_deadline_seconds: int = 60
    log_dir: Path = field(default_factory=lambda: REPO_ROOT / ".devstack" / "logs")
    function_source: Path = field(default_factory=lambda: REPO_ROOT / "functions" / "thumbnailer" / "main.py")
    function_target: str = "handle"
    function_signature_type: str = "http"
    function_env: dict[str, str] = field(default_factory=dict)
    start_function: bool = True
    """Start both lanes' function processes."""
    start_gallery: bool = False
    """Serve the gallery page (``python -m gallery_web``) on ``gallery_port``; `make run` turns it on."""
    create_push_subscription: bool = True
    pubsub_in_process: bool = False
    """Run the Pub/Sub emulator as a thread of this process instead of a subprocess."""
    external_pubsub_host: str | None = None
    """``host:port`` of an already running Pub/Sub emulator (e.g. Google's) to use instead of starting ours."""
    repo_root: Path = REPO_ROOT


class DevStack:
    """Starts, wires and stops the local emulator stack; see the module docstring."""

    def __init__(self, config: DevStackConfig | None = None) -> None:
        self.config = config or DevStackConfig()
        c = self.config
        self.log_dir = Path(c.log_dir)
        self.gcs_port = c.gcs_port or processes.free_port()
        self.firestore_port = c.firestore_port or processes.free_port()
        self.function_port = c.function_port or processes.free_port()
        self.bulk_function_port = c.bulk_function_port or processes.free_port()
        self.gallery_port = c.gallery_port or processes.free_port()
        if c.external_pubsub_host:
            host, _, port = c.external_pubsub_host.rpartition(":")
            self._pubsub_host, self.pubsub_port = host or LOCALHOST, int(port)
        else:
            self._pubsub_host, self.pubsub_port = LOCALHOST, c.pubsub_port or processes.free_port()
        self._pubsub_inproc: PubSubEmulator | None = None
        # Services whose port was picked here ("0" in the config) and that have not listened on it yet: a port
        # that was free when picked can be taken by another process before the service starts (several stacks
        # starting at once), and until the service has started nothing refers to its port, so it may pick again.
        self._repickable: set[ServiceName] = {name for name, port in _AUTO_PORT_FIELDS.items() if not getattr(c, port)}
        self._procs: dict[ServiceName, ManagedProcess] = {}
        self._started: list[ServiceName] = []
        self._push_subscription_created = False

    # ------------------------------------------------------------------ addresses

    @property
    def gcs_url(self) -> str:
        return f"http://{LOCALHOST}:{self.gcs_port}"

    @property
    def pubsub_emulator_host(self) -> str:
        return f"{self._pubsub_host}:{self.pubsub_port}"

    @property
    def firestore_emulator_host(self) -> str:
        return f"{LOCALHOST}:{self.firestore_port}"

    @property
    def function_url(self) -> str:
        return f"http://{LOCALHOST}:{self.function_port}/"

    @property
    def bulk_function_url(self) -> str:
        return f"http://{LOCALHOST}:{self.bulk_function_port}/"

    @property
    def gallery_url(self) -> str:
        return f"http://{LOCALHOST}:{self.gallery_port}/"

    @property
    def renditions_base_url(self) -> str:
        """fake-gcs-server serves public GETs at ``/BUCKET/OBJECT``."""
        return f"{self.gcs_url}/{self.config.renditions_bucket}"

    @property
    def topic_path(self) -> str:
        return f"projects/{self.config.project}/topics/{self.config.topic}"

    @property
    def bulk_topic_path(self) -> str:
        return f"projects/{self.config.project}/topics/{self.config.bulk_topic}"

    @property
    def bulk_push_subscription_path(self) -> str:
        return f"projects/{self.config.project}/subscriptions/{self.config.bulk_push_subscription}"

    @property
    def dead_letter_topic_path(self) -> str:
        return f"projects/{self.config.project}/topics/{self.config.dead_letter_topic}"

    @property
    def push_subscription_path(self) -> str:
        return f"projects/{self.config.project}/subscriptions/{self.config.push_subscription}"

    @property
    def dead_letter_subscription_path(self) -> str:
        return f"projects/{self.config.project}/subscriptions/{self.config.dead_letter_subscription}"

    @property
    def dead_letter_recorder_path(self) -> str:
        return f"projects/{self.config.project}/subscriptions/{self.config.dead_letter_recorder_subscription}"

    @property
    def pubsub_emulator(self) -> PubSubEmulator | None:
        """The in-process emulator object when ``pubsub_in_process`` is set (for RPC counts, reset, ...)."""
        return self._pubsub_inproc

    def process(self, name: ServiceName) -> ManagedProcess | None:
        """The subprocess behind a service, if it runs as one."""
        return self._procs.get(name)

    # ------------------------------------------------------------------ environments

    def env(self) -> dict[str, str]:
        """Environment for clients (the function, the CLI, tests): emulator hosts, names and URLs."""
        c = self.config
        return {
            "GOOGLE_CLOUD_PROJECT": c.project,
            "STORAGE_EMULATOR_HOST": self.gcs_url,
            "PUBSUB_EMULATOR_HOST": self.pubsub_emulator_host,
            "FIRESTORE_EMULATOR_HOST": self.firestore_emulator_host,
            "UPLOADS_BUCKET": c.uploads_bucket,
            "RENDITIONS_BUCKET": c.renditions_bucket,
            "PHOTOS_COLLECTION": c.photos_collection,
            "RENDITIONS_BASE_URL": self.renditions_base_url,
            "FUNCTION_URL": self.function_url,
            "PUBSUB_TOPIC": self.topic_path,
            "DEAD_LETTER_SUBSCRIPTION": self.dead_letter_subscription_path,
            "GALLERY_URL": self.gallery_url,
            "PUBSUB_BULK_TOPIC": self.bulk_topic_path,
            "LIVE_SUBSCRIPTION": self.push_subscription_path,
            "BULK_SUBSCRIPTION": self.bulk_push_subscription_path,
            "BULK_FUNCTION_URL": self.bulk_function_url,
        }

    def function_environment(self) -> dict[str, str]:
        """What the function process gets on top of this process's environment."""
        env = {k: v for k, v in self.env().items() if k not in CLIENT_ONLY_KEYS}
        env["VIPS_CONCURRENCY"] = "1"
        env.update(self.config.function_env)
        return env

    def write_env_file(self, path: Path | str) -> Path:
        """Write ``KEY=VALUE`` lines (sourceable by sh and readable by dotenv tools); returns the path."""
        target = Path(path)
        env = self.env()
        lines = [f"{key}={env[key]}" for key in ENV_FILE_KEYS]
        # Settings given to the function (e.g. `-e RENDITION_FORMATS=webp,avif`) go to the CLI too, so
        # `gallery backfill` computes the same rendition spec version as the function.
        overrides = sorted(set(self.config.function_env) & Settings.env_names() - set(ENV_FILE_KEYS))
        lines += [f"{key}={self.config.function_env[key]}" for key in overrides]
        target.parent.mkdir(parents=True, exist_ok=True)
        header = "# written by `python -m gallery_devstack run`; valid while it runs\n"
        target.write_text(header + "\n".join(lines) + "\n")
        return target

    # ------------------------------------------------------------------ clients pointed at the stack

    @contextmanager
    def pubsub_admin(self) -> Iterator[tuple[PublisherClient, SubscriberClient]]:
        """Low-level (GAPIC) Pub/Sub clients over an insecure channel to the emulator."""
        pub_channel = grpc.insecure_channel(self.pubsub_emulator_host)
        sub_channel = grpc.insecure_channel(self.pubsub_emulator_host)
        try:
            yield (
                PublisherClient(transport=PublisherGrpcTransport(channel=pub_channel)),
                SubscriberClient(transport=SubscriberGrpcTransport(channel=sub_channel)),
            )
        finally:
            pub_channel.close()
            sub_channel.close()

    def storage_client(self) -> Any:
        """A ``google.cloud.storage.Client`` for fake-gcs-server (anonymous, explicit endpoint, no env needed)."""
        storage = importlib.import_module("google.cloud.storage")  # untyped package: keep mypy out of it
        return storage.Client(
            project=self.config.project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": self.gcs_url},
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Start every service in dependency order and wire them; stops what started if one fails."""
        try:
            self.start_service("pubsub")
            self.start_service("gcs")
            self.start_service("firestore")
            if self.config.start_function:
                self.start_service("function")
                self.start_service("bulk_function")
            if self.config.create_push_subscription:
                self._create_push_subscription()
            if self.config.start_gallery:
                self.start_service("gallery")
        except BaseException:
            self.stop()
            raise
        logger.info("dev stack up: %s", self.env())
        return self

    def stop(self) -> None:
        """Stop every service this object started, in reverse order."""
        for name in reversed(list(self._started)):
            try:
                self.stop_service(name)
            except Exception:
                logger.exception("stopping %s failed", name)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def running(self, name: ServiceName) -> bool:
        return name in self._started

    def start_service(self, name: ServiceName) -> None:
        """(Re)start one service on its port and restore its wiring (topics, subscriptions, buckets).

        The emulators keep state in memory, so a restarted Pub/Sub loses queued messages, a restarted
        fake-gcs-server loses objects and a restarted Firestore loses documents.
        """
        if name not in SERVICES:
            raise ValueError(f"unknown service {name!r}; expected one of {SERVICES}")
        if name in self._started:
            return
        if name == "pubsub":
            self._start_pubsub()
            self._started.append(name)
            self._create_topics()
            if self._push_subscription_created:
                self._create_push_subscription()
            return
        if name == "gcs":
            proc = processes.fake_gcs_server(
                port=self.gcs_port,
                log_dir=self.log_dir,
                pubsub_emulator_host=self.pubsub_emulator_host,
                project=self.config.project,
                topic=self.config.topic,
                event_bucket=self.config.uploads_bucket,
            )
        elif name == "firestore":
            proc = processes.firestore_emulator(
                port=self.firestore_port, log_dir=self.log_dir, repo_root=self.config.repo_root
            )
        elif name == "gallery":
            proc = self._gallery_process()
        else:
            proc = self._function_process(name)
        try:
            proc.start()
        except processes.PortInUseError:
            if name not in self._repickable:
                raise
            field_name = _AUTO_PORT_FIELDS[name]
            logger.info("%s: port %d was taken meanwhile; picking another", name, getattr(self, field_name))
            setattr(self, field_name, processes.free_port())
            self._repickable.discard(name)  # once: a second collision is reported
            self.start_service(name)
            return
        self._repickable.discard(name)
        self._procs[name] = proc
        self._started.append(name)
        if name == "gcs":
            self._create_buckets()

    def stop_service(self, name: ServiceName) -> None:
        """Stop one service (its port stays reserved for `start_service`)."""
        if name not in self._started:
            return
        self._started.remove(name)
        if name == "pubsub" and self._pubsub_inproc is not None:
            self._pubsub_inproc.stop()
            self._pubsub_inproc = None
            return
        proc = self._procs.pop(name, None)
        if proc is not None:
            proc.stop()

    def start_function(self) -> None:
        """Start both lanes' function processes."""
        self.start_service("function")
        self.start_service("bulk_function")

    def stop_function(self) -> None:
        """Stop both lanes' function processes."""
        self.stop_service("bulk_function")
        self.stop_service("function")

    def restart_service(self, name: ServiceName) -> None:
        self.stop_service(name)
        self.start_service(name)

    def restart_pubsub_push_loop(self, timeout: float = 10.0) -> None:
        """Restart the Pub/Sub emulator's push loop, keeping its topics, subscriptions and messages.

        Pushes in flight are abandoned and their messages redelivered after backoff (see
        `PubSubEmulator.restart_push_loop`). The subprocess emulator is sent SIGUSR1; this returns once its log
        reports the restart.
        """
        if "pubsub" not in self._started or self.config.external_pubsub_host:
            raise RuntimeError("this stack runs no Pub/Sub emulator of its own")
        if self._pubsub_inproc is not None:
            self._pubsub_inproc.restart_push_loop()
            return
        proc = self._procs["pubsub"]
        before = _push_loop_restarts_logged(proc)
        proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while _push_loop_restarts_logged(proc) <= before:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Pub/Sub emulator did not report a push loop restart within {timeout:.0f}s")
            time.sleep(0.05)

    def _function_process(self, name: Literal["function", "bulk_function"]) -> ManagedProcess:
        """One lane's function: the same source and settings; the bulk one with fewer threads, at lower priority."""
        c = self.config
        bulk = name == "bulk_function"
        env = self.function_environment()
        env["LANE"] = "bulk" if bulk else "live"
        if bulk:
            env["THREADS"] = str(c.bulk_request_concurrency)  # functions-framework's gunicorn request threads
        return processes.function(
            port=self.bulk_function_port if bulk else self.function_port,
            log_dir=self.log_dir,
            source=c.function_source,
            target=c.function_target,
            signature_type=c.function_signature_type,
            env=env,
            name="function-bulk" if bulk else "function",
            nice=c.bulk_nice if bulk else 0,
            restart_on_exit=True,
        )

    def _gallery_process(self) -> ManagedProcess:
        """The gallery page server, reading Firestore through the stack's emulator."""
        env = dict(os.environ)
        env.update(self.env())
        shared = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [shared, env.get("PYTHONPATH")]))
        env.setdefault("PYTHONUNBUFFERED", "1")
        argv = [sys.executable, "-m", "gallery_web", "--host", LOCALHOST, "--port", str(self.gallery_port)]
        argv += ["--env-file", os.devnull]  # everything comes from env; never pick up a stray .devstack.env
        return ManagedProcess(
            "gallery-web",
            argv,
            port=self.gallery_port,
            log_dir=self.log_dir,
            env=env,
            ready=lambda: processes.http_ok(f"{self.gallery_url}healthz"),
            restart_on_exit=True,
        )

    # ------------------------------------------------------------------ wiring

    def _start_pubsub(self) -> None:
        if self.config.external_pubsub_host:
            processes.wait_for_port(self._pubsub_host, self.pubsub_port, timeout=10)
            logger.info("using the Pub/Sub emulator at %s", self.pubsub_emulator_host)
            return
        if self.config.pubsub_in_process:
            emulator = PubSubEmulator(LOCALHOST, self.pubsub_port)
            emulator.start()
            self._pubsub_inproc = emulator
            return
        proc = processes.pubsub_emulator(port=self.pubsub_port, log_dir=self.log_dir)
        proc.start()
        self._procs["pubsub"] = proc

    def _create_topics(self) -> None:
        """Event topic first (fake-gcs-server drops events for a missing topic), then the bulk topic and the
        dead-letter pair."""
        with self.pubsub_admin() as (pub, sub):
            for topic in (self.topic_path, self.bulk_topic_path, self.dead_letter_topic_path):
                with suppress(gexc.AlreadyExists):
                    pub.create_topic(request={"name": topic}, timeout=10)
            with suppress(gexc.AlreadyExists):
                sub.create_subscription(
                    request={
                        "name": self.dead_letter_subscription_path,
                        "topic": self.dead_letter_topic_path,
                        "ack_deadline_seconds": 10,
                    },
                    timeout=10,
                )

    def upload_before_deployment(
        self, objects: Mapping[str, bytes], content_type: str = "image/jpeg", timeout: float = 120.0
    ) -> None:
        """Put objects in the uploads bucket as if they were there before the pipeline was deployed: their
        notifications reach no function, so they are what `gallery backfill` is for. Only before the push
        subscriptions exist (``create_push_subscription=False``, then `create_push_subscriptions`); returns once
        every notification has been published, so none arrives after the subscriptions are created."""
        if self._push_subscription_created:
            raise RuntimeError("the push subscriptions exist already: these uploads would be processed")
        watch = f"projects/{self.config.project}/subscriptions/upload-before-deployment"
        bucket = self.storage_client().bucket(self.config.uploads_bucket)
        with self.pubsub_admin() as (_, sub):
            sub.create_subscription(request={"name": watch, "topic": self.topic_path}, timeout=10)
            try:
                for name, data in objects.items():
                    bucket.blob(name).upload_from_string(data, content_type=content_type)
                waiting, deadline = set(objects), time.monotonic() + timeout
                while waiting and time.monotonic() < deadline:
                    response = sub.pull(request={"subscription": watch, "max_messages": 1000}, timeout=10)
                    waiting -= {m.message.attributes.get("objectId") for m in response.received_messages}
                if waiting:
                    raise TimeoutError(f"{len(waiting)} notification(s) not published after {timeout:.0f}s")
            finally:
                sub.delete_subscription(subscription=watch, timeout=10)

    def create_push_subscriptions(self) -> None:
        """Create the push subscriptions now (for a stack started with ``create_push_subscription=False``: the
        bucket's notifications published until then reached no subscription, as before a deployment)."""
        self._create_push_subscription()

    def _create_push_subscription(self) -> None:
        """Each lane's push subscription (own retry and dead-letter policy, shared dead-letter topic), and the
        dead-letter topic's push back to the live function's ``/dead-letters``."""
        c = self.config
        retry_policy = _retry_policy(c.min_backoff_seconds, c.max_backoff_seconds)
        lanes = (
            (self.push_subscription_path, self.topic_path, self.function_url, retry_policy),
            (
                self.bulk_push_subscription_path,
                self.bulk_topic_path,
                self.bulk_function_url,
                _retry_policy(c.bulk_min_backoff_seconds, c.bulk_max_backoff_seconds),
            ),
        )
        pushes: list[dict[str, Any]] = [
            {
                "name": name,
                "topic": topic,
                "push_config": {"push_endpoint": endpoint},
                "ack_deadline_seconds": c.ack_deadline_seconds,
                "retry_policy": retry,
                "dead_letter_policy": {
                    "dead_letter_topic": self.dead_letter_topic_path,
                    "max_delivery_attempts": c.max_delivery_attempts,
                },
            }
            for name, topic, endpoint, retry in lanes
        ]
        recorder: dict[str, Any] = {
            "name": self.dead_letter_recorder_path,
            "topic": self.dead_letter_topic_path,
            "push_config": {"push_endpoint": f"{self.function_url}dead-letters"},
            "ack_deadline_seconds": c.ack_deadline_seconds,
            "retry_policy": retry_policy,
        }
        with self.pubsub_admin() as (_, sub):
            for req in (*pushes, recorder):
                with suppress(gexc.AlreadyExists):
                    sub.create_subscription(request=req, timeout=10)
        self._push_subscription_created = True

    def firestore_writes(self, timeout: float = 5.0) -> dict[str, int]:
        """Documents written to the Firestore emulator since it started: {"commits": C, "writes": W} (the
        emulator prints them on SIGUSR1)."""
        proc = self.process("firestore")
        if proc is None or proc.pid is None:
            raise RuntimeError("the Firestore emulator is not running")
        before = _writes_lines(proc)
        os.kill(proc.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = _writes_lines(proc)
            if len(lines) > len(before):
                counts: dict[str, int] = json.loads(lines[-1].split(" ", 1)[1])
                return counts
            time.sleep(0.02)
        raise TimeoutError("the Firestore emulator did not report its writes")

    def _create_buckets(self) -> None:
        client = self.storage_client()
        for bucket in (self.config.uploads_bucket, self.config.renditions_bucket):
            with suppress(gexc.Conflict):
                client.create_bucket(bucket)


def _writes_lines(proc: ManagedProcess) -> list[str]:
    try:
        text = proc.log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.startswith(FIRESTORE_WRITES)]


def _push_loop_restarts_logged(proc: ManagedProcess) -> int:
    """How many push loop restarts the subprocess emulator's log reports (all runs of the log file)."""
    try:
        text = proc.log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 0
    return text.count(PUSH_LOOP_RESTARTED)


def _retry_policy(minimum_seconds: float, maximum_seconds: float) -> dict[str, dt.timedelta]:
    return {
        "minimum_backoff": dt.timedelta(seconds=minimum_seconds),
        "maximum_backoff": dt.timedelta(seconds=maximum_seconds),
    }
