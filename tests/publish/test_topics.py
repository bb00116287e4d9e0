"""The topic tree of one unit."""

from edge.publish.topics import Topics


def test_topic_tree_and_command_names():
    t = Topics("microexpr", "room-12")
    assert (t.status, t.events, t.health, t.session) == (
        "microexpr/room-12/status", "microexpr/room-12/events", "microexpr/room-12/health",
        "microexpr/room-12/session")
    assert t.commands == "microexpr/room-12/cmd/+" and t.command("health") == "microexpr/room-12/cmd/health"
    assert t.command_name("microexpr/room-12/cmd/start_session") == "start_session"
    assert t.command_name("microexpr/room-12/cmd/a/b") is None
    assert t.command_name("microexpr/room-13/cmd/start_session") is None
    assert t.discovery == "homeassistant/device/room-12/config" and t.ha_status == "homeassistant/status"
    assert Topics("fleet/eu", "u1", "ha").discovery == "ha/device/u1/config"
