"""What the operator tools read on top of the function's settings."""

from __future__ import annotations

from dataclasses import dataclass

from gallery.settings import Settings, setting, topic_path


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
    pubsub_bulk_topic: str = setting(
        "",
        "The bulk lane's topic (id or projects/P/topics/T): `gallery backfill`, `gallery retry --all/--code` and "
        "`gallery import` publish to it by default, so bulk work never delays live uploads (docs/operations.md). "
        "Terraform's output `bulk_topic` is the value to use; `.devstack.env` sets it for the local stack.",
    )

    @property
    def pubsub_topic_path(self) -> str:
        return topic_path(self.pubsub_topic, self.google_cloud_project)

    @classmethod
    def tool_env_names(cls) -> frozenset[str]:
        """The variables only the tools read."""
        return cls.env_names() - Settings.env_names()
