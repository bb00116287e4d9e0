"""MQTT 5 publishing: topic tree, outbox delivery, commands, health, Home Assistant discovery.

`PublisherService(cfg, outbox)` is the entry point; see docs/mqtt.md.
"""

from edge.publish.service import PublisherService

__all__ = ["PublisherService"]
