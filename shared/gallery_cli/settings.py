"""What the operator tools read on top of the function's settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gallery.settings import Settings, setting, topic_path

if TYPE_CHECKING:
    from gallery.pipeline_status import LaneName


def subscription_path(subscription: str, project: str) -> str:
    """A subscription id or full path as ``projects/P/subscriptions/S``; empty stays empty."""
    if not subscription or subscription.startswith("projects/"):
        return subscription
    return f"projects/{project}/subscriptions/{subscription}"


@dataclass(frozen=True)
class ToolSettings(Settings):
    """The function's settings plus what only the `gallery` tools need (the function never reads these)."""

    pubsub_topic: str = setting(
        "",
        "The uploads bucket's notification topic: the live lane (id or projects/P/topics/T). `gallery retry` of "
        "named photos, and the bulk commands with `--lane live`, publish the notifications Cloud Storage would "
        "have sent to it; `--topic` overrides it. Terraform's output `uploads_topic` is the value to use; "
        "`.devstack.env` sets it for the local stack.",
    )

    live_subscription: str = setting(
        "",
        "The live lane's push subscription (id or projects/P/subscriptions/S): `gallery status` and the gallery "
        "page report its backlog and oldest unacknowledged message. Terraform's output `cli_env` and "
        "`.devstack.env` set it; empty: the lane is not reported.",
    )
    bulk_subscription: str = setting(
        "",
        "The bulk lane's push subscription (id or projects/P/subscriptions/S), reported like LIVE_SUBSCRIPTION "
        "and set by the same files.",
    )
    dead_letter_subscription: str = setting(
        "",
        "The dead-letter pull subscription (id or projects/P/subscriptions/S, Terraform's output "
        "`dead_letter_subscription`): `gallery status` reports how many dead letters it holds.",
    )
    status_window_minutes: int = setting(
        15,
        "Minutes of recent photos `gallery status` and the page measure throughput and render times over.",
        ge=1,
        le=1440,
    )

    @property
    def lane_subscriptions(self) -> dict[LaneName, str]:
        """Each lane's subscription as a full path (empty where not configured)."""
        return {
            "live": subscription_path(self.live_subscription, self.google_cloud_project),
            "bulk": subscription_path(self.bulk_subscription, self.google_cloud_project),
        }

    @property
    def dead_letter_subscription_path(self) -> str:
        return subscription_path(self.dead_letter_subscription, self.google_cloud_project)

    @property
    def pubsub_topic_path(self) -> str:
        return topic_path(self.pubsub_topic, self.google_cloud_project)

    @classmethod
    def tool_env_names(cls) -> frozenset[str]:
        """The variables only the tools read."""
        return cls.env_names() - Settings.env_names()
