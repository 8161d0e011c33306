"""Which lane a command's notifications travel: ``live`` (the uploads bucket's own topic) or ``bulk``.

Each lane has its own topic, push subscription and function service (docs/operations.md), so work published to
the bulk lane never takes the instances or request slots live uploads need. Bulk commands default to ``bulk``;
``--lane live`` sends their notifications down the live lane instead.
"""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from gallery.settings import topic_path
from gallery_cli.settings import ToolSettings

Lane = Literal["live", "bulk"]
LANES: tuple[Lane, ...] = ("live", "bulk")

_SETTING: dict[Lane, str] = {"live": "PUBSUB_TOPIC", "bulk": "PUBSUB_BULK_TOPIC"}

LaneOption = Annotated[
    Lane,
    typer.Option(
        "--lane",
        case_sensitive=False,
        help="live: the uploads topic (PUBSUB_TOPIC); bulk: the bulk lane's topic (PUBSUB_BULK_TOPIC)",
    ),
]
TopicOption = Annotated[
    str | None,
    typer.Option(help="Topic to publish to (id or projects/P/topics/T); default: the --lane's topic setting"),
]


class NoTopicError(ValueError):
    """The lane's topic is not configured and no --topic was given."""


def retry_lane(named: int, *, every_failed: bool) -> Lane:
    """The default lane of `gallery retry`: one named photo stays live (someone is waiting for it), more is bulk."""
    return "live" if named == 1 and not every_failed else "bulk"


def lane_topic(settings: ToolSettings, lane: Lane) -> str:
    """The configured topic of `lane` as given (id or path); empty when it is not set."""
    return (settings.pubsub_topic if lane == "live" else settings.pubsub_bulk_topic).strip()


def publish_target(settings: ToolSettings, lane: Lane, topic: str | None = None) -> str:
    """The full topic path (projects/P/topics/T) a command publishes to: `topic` if given, else the lane's."""
    target = (topic or "").strip() or lane_topic(settings, lane)
    if not target:
        raise NoTopicError(
            f"no {lane} lane topic: pass --topic, or set {_SETTING[lane]}"
            + (" (Terraform output bulk_topic; `make run` writes it to .devstack.env)" if lane == "bulk" else "")
        )
    return topic_path(target, settings.google_cloud_project)


__all__ = ["LANES", "Lane", "LaneOption", "NoTopicError", "TopicOption", "lane_topic", "publish_target", "retry_lane"]
