"""The real dashboard process in headless Chromium: login, live fleet and events, Last Will, filters, timeline, review."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest
from dashboard_helpers import (
    PASSWORD,
    fill_outbox,
    make_event,
    make_health,
    mqtt_client,
    publish_json,
    write_clip,
)
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# A device as a separate process, so SIGKILL drops its TCP connection without a DISCONNECT.
DEVICE = textwrap.dedent("""
    import json, sys, time
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    host, port, health = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="room-12", protocol=mqtt.MQTTv5)
    c.will_set("microexpr/room-12/status", "offline", qos=1, retain=True)
    c.connect(host, port, keepalive=60)
    c.loop_start()
    c.publish("microexpr/room-12/status", "online", qos=1, retain=True).wait_for_publish(10)
    c.publish("microexpr/room-12/session", json.dumps({"schema": 1, "id": "interview-42", "state": "running",
              "started": "2026-11-29T10:00:00.000Z", "stopped": None}), qos=1, retain=True).wait_for_publish(10)
    c.publish("microexpr/room-12/health", health, qos=1).wait_for_publish(10)
    print("ready", flush=True)
    time.sleep(600)
""")


def keep_screenshots(folder) -> None:
    """Copy the screenshots somewhere a person can look at them (DASHBOARD_SCREENSHOTS=<dir>)."""
    target = os.environ.get("DASHBOARD_SCREENSHOTS")
    if target:
        for shot in folder.glob("*.png"):
            shutil.copy(shot, target)


def login(page, url: str) -> None:
    page.goto(url + "/")
    expect(page).to_have_url(url + "/login?next=%2F")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(url + "/")


def test_fleet_and_events_live_in_a_browser(browser_page, broker, start_dashboard, tmp_path):
    page = browser_page
    dash = start_dashboard(mqtt_url=broker.url)
    login(page, dash.url)
    expect(page.locator("#live-status")).to_have_text("Live")
    page.evaluate("window.__noReload = 1")

    device = subprocess.Popen(
        [sys.executable, "-c", DEVICE, "127.0.0.1", str(broker.port), json.dumps(make_health("room-12"))],
        stdout=subprocess.PIPE, text=True)
    try:
        assert device.stdout.readline().strip() == "ready"
        row = page.locator('#fleet tr[data-device="room-12"]')
        expect(row).to_have_attribute("data-state", "online")
        expect(row).to_contain_text("Leeds / Interview 3")
        expect(row).to_contain_text("118.5")
        expect(row).to_contain_text("interview-42 (running)")
        expect(row.locator("time")).to_have_text("just now")

        pub = mqtt_client(broker.url)
        events = [make_event("room-12", "interview-42", i) for i in range(14)]
        for e in events:
            publish_json(pub, "microexpr/room-12/events", e)
        expect(page.locator("#feed li[data-id]")).to_have_count(len(events))
        expect(page.locator(f'#feed li[data-id="{events[-1]["id"]}"]')).to_contain_text(events[-1]["emotion"])

        device.send_signal(signal.SIGKILL)  # the Last Will fires
        device.wait(10)
        expect(row).to_have_attribute("data-state", "offline", timeout=15_000)
        expect(row).to_have_class("state-offline")
        assert page.evaluate("window.__noReload") == 1  # all of it arrived without a reload
        shot = tmp_path / "fleet.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000

        # Search: filter by emotion.
        page.get_by_role("link", name="Events").click()
        expect(page.locator("#events tbody tr")).to_have_count(len(events))
        page.get_by_label("Emotion").select_option("fear")
        page.get_by_role("button", name="Search").click()
        fear = [e for e in events if e["emotion"] == "fear"]
        expect(page.locator("#events tbody tr")).to_have_count(len(fear))
        expect(page.locator("#result-count")).to_have_text(f"{len(fear)} matching events")
        for r in page.locator("#events tbody tr").all():
            assert r.get_attribute("data-emotion") == "fear"
        page.screenshot(path=str(tmp_path / "events.png"), full_page=True)
        assert "emotion=fear" in page.url
        # A new fear event appears live in the filtered list; a new anger event does not.
        late_fear = make_event("room-12", "interview-42", 50, emotion="fear")
        late_anger = make_event("room-12", "interview-42", 51, emotion="anger")
        publish_json(pub, "microexpr/room-12/events", late_anger)
        publish_json(pub, "microexpr/room-12/events", late_fear)
        expect(page.locator(f'#events tbody tr[data-id="{late_fear["id"]}"]')).to_have_count(1)
        expect(page.locator("#events tbody tr")).to_have_count(len(fear) + 1)
        events += [late_fear, late_anger]

        # The session timeline.
        page.get_by_role("link", name="Sessions").click()
        expect(page.locator("#c-device option")).to_have_count(1)
        page.screenshot(path=str(tmp_path / "sessions.png"), full_page=True)
        page.get_by_role("link", name="interview-42", exact=True).click()
        expect(page.locator("#timeline .mark")).to_have_count(len(events))
        micro = page.locator('#timeline .mark[data-type="micro"]')
        macro = page.locator('#timeline .mark[data-type="macro"]')
        assert micro.count() == sum(e["type"] == "micro" for e in events) > 0
        assert macro.locator("rect").count() == macro.count() and micro.locator("polygon").count() == micro.count()
        micro.first.click()
        expect(page.locator("#detail")).to_contain_text("Confidence")
        expect(page.locator("#detail a")).to_have_text("Review this event")
        macro.first.focus()
        page.keyboard.press("Enter")
        expect(page.locator("#detail")).to_contain_text("macro")
        shot2 = tmp_path / "timeline.png"
        page.screenshot(path=str(shot2), full_page=True)
        assert shot2.stat().st_size > 10_000
        assert page.console_errors == []
        keep_screenshots(tmp_path)
        pub.disconnect()
    finally:
        if device.poll() is None:
            device.kill()
            device.wait()


def test_slow_motion_review_on_the_device(browser_page, start_dashboard, tmp_path):
    page = browser_page
    data = tmp_path / "unit"
    events = fill_outbox(data)
    level = [None, None] + [0.2, 0.3, 0.6, 1.1, 1.9, 2.6, 2.0, 1.2, 0.7, 0.4, 0.3, 0.2, 0.2, 0.2]
    write_clip(data / "clips", events[2]["id"], n=16, level=level)
    write_clip(data / "clips", events[3]["id"], n=16)  # an older clip, without the trace
    dash = start_dashboard(local=True, data_dir=data)
    login(page, dash.url)
    page.goto(f"{dash.url}/review/{events[3]['id']}")
    expect(page.locator("#frame-label")).to_contain_text("Frame 2 / 16")
    expect(page.locator("#level-trace")).to_have_count(0)
    page.goto(f"{dash.url}/review/{events[2]['id']}")
    expect(page.locator("#player img")).to_have_count(1)
    expect(page.locator(".tick")).to_have_text(["onset", "apex", "offset"])
    assert page.locator("#speed option").all_inner_texts() == ["1/2", "1/4", "1/8", "1/16"]
    expect(page.locator("#frame-label")).to_contain_text("Frame 2 / 16")
    # the score trace: one point per measured frame (the first two were not), the cursor at the frame shown
    path = page.locator("#level-trace path")
    assert path.get_attribute("data-points") == "14" and path.get_attribute("d").count("L") == 13
    expect(page.locator("#frame-label")).not_to_contain_text("threshold")  # frame 2: not measured
    before = float(page.locator("#level-cursor").get_attribute("x1"))
    page.get_by_role("button", name="apex").click()
    expect(page.locator("#frame-label")).to_contain_text("Frame 7 / 16")
    expect(page.locator("#frame-label")).to_contain_text("apex")
    expect(page.locator("#frame-label")).to_contain_text("score 1.90× threshold")
    assert float(page.locator("#level-cursor").get_attribute("x1")) == 600 * 6 / 15 > before
    assert page.locator("#player img").get_attribute("src").endswith("/0006.jpg")
    page.get_by_label("Speed").select_option("0.5")
    page.get_by_role("button", name="Play").click()
    expect(page.locator("#frame-label")).to_contain_text("Frame 16 / 16", timeout=5000)
    expect(page.get_by_role("button", name="Play")).to_be_visible()
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#frame-label")).to_contain_text("Frame 15 / 16")
    loaded = page.evaluate("document.querySelector('#player img').naturalWidth")
    assert loaded == 96
    page.screenshot(path=str(tmp_path / "review.png"), full_page=True)
    assert (tmp_path / "review.png").stat().st_size > 5_000
    keep_screenshots(tmp_path)
    assert page.console_errors == []


def _boxes_overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


def test_fleet_table_and_live_feed_do_not_overlap_at_1400px(browser_page, broker, start_dashboard, tmp_path):
    """Issue 18 item 9: at 1400 px the fleet table ran under the live-events panel."""
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 900})
    dash = start_dashboard(mqtt_url=broker.url)
    pub = mqtt_client(broker.url)
    try:
        for i, dev in enumerate(("room-12", "interview-suite-east-07", "lab-3")):
            publish_json(pub, f"microexpr/{dev}/status", "online", retain=True)
            publish_json(pub, f"microexpr/{dev}/health", make_health(
                dev, site="Leeds General", room=f"Interview room {i + 3}",
                versions={"software": "0.1.0+g1234abc", "models": "3f9a2c1b/77aa01ee/0c4d9e21", "runtime": "litert"}))
            publish_json(pub, f"microexpr/{dev}/session", {"schema": 1, "id": f"interview-2026-11-29-{i:03d}",
                                                            "state": "running", "started": "2026-11-29T10:00:00.000Z",
                                                            "stopped": None}, retain=True)
        publish_json(pub, "microexpr/room-12/events", make_event("room-12", "interview-42", 1))
        login(page, dash.url)
        expect(page.locator("#fleet tbody tr[data-device]")).to_have_count(3)
        expect(page.locator("#feed li[data-id]")).to_have_count(1)
        feed = page.locator("#feed-h").locator("xpath=..").bounding_box()
        section = page.locator("#fleet-h").locator("xpath=..").bounding_box()
        assert feed and section
        cells = page.locator("#fleet th, #fleet td").all()
        assert len(cells) >= 11 * 4
        for cell in cells:
            box = cell.bounding_box()
            assert box, cell.inner_text()
            assert not _boxes_overlap(box, feed), f"fleet cell {cell.inner_text()!r} {box} under the feed {feed}"
            # nothing of the table is hidden past its own section either
            assert box["x"] + box["width"] <= section["x"] + section["width"] + 0.5, cell.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 1400
        page.screenshot(path=str(tmp_path / "fleet-1400.png"), full_page=True)
        keep_screenshots(tmp_path)
    finally:
        pub.disconnect()


def test_an_open_page_goes_to_the_login_when_its_session_is_signed_out(browser_page, start_dashboard, tmp_path):
    """Issue 18 item 5: the live stream re-checks the session while connected, and the page follows it."""
    page = browser_page
    dash = start_dashboard(local=True, data_dir=tmp_path / "unit")
    login(page, dash.url)
    expect(page.locator("#live-status")).to_have_text("Live")
    # signed out elsewhere (another tab): the cookie this page holds is revoked on the server
    status = page.evaluate("fetch('/logout', {method: 'POST', redirect: 'manual'}).then(r => r.type)")
    assert status == "opaqueredirect"
    expect(page).to_have_url(dash.url + "/login?next=%2F", timeout=5000)
    assert page.console_errors == []
