"""The MQTT topic tree of one unit, in one place so nothing builds a topic by hand."""

from __future__ import annotations

from dataclasses import dataclass

# Command names a unit answers on <prefix>/<device>/cmd/<name>.
COMMAND_NAMES: tuple[str, ...] = ("start_session", "stop_session", "set_thresholds", "health", "erase_session")


@dataclass(frozen=True)
class Topics:
    """``<prefix>/<device>/...`` topics; see docs/mqtt.md."""

    prefix: str
    device: str
    discovery_prefix: str = "homeassistant"

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.device}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def events(self) -> str:
        return f"{self.base}/events"

    @property
    def health(self) -> str:
        return f"{self.base}/health"

    @property
    def session(self) -> str:
        return f"{self.base}/session"

    @property
    def commands(self) -> str:
        """Subscription filter for every command."""
        return f"{self.base}/cmd/+"

    def command(self, name: str) -> str:
        return f"{self.base}/cmd/{name}"

    def command_name(self, topic: str) -> str | None:
        """The command name of a topic under ``cmd/``, or None."""
        head = f"{self.base}/cmd/"
        if not topic.startswith(head) or "/" in topic[len(head):]:
            return None
        return topic[len(head):]

    def is_reply(self, topic: str) -> bool:
        """A Response Topic this unit may answer on: ``<base>/reply/<one level>``, where the ACL lets it write."""
        head = f"{self.base}/reply/"
        rest = topic[len(head):]
        return topic.startswith(head) and bool(rest) and not any(c in rest for c in "/+#")

    @property
    def discovery(self) -> str:
        """Home Assistant device-based discovery config topic."""
        return f"{self.discovery_prefix}/device/{self.device}/config"

    @property
    def ha_status(self) -> str:
        """Home Assistant's birth/last-will topic."""
        return f"{self.discovery_prefix}/status"
