"""The web dashboard: a fleet view fed by MQTT, or one unit's own buffer and clips (--local)."""
