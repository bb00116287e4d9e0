"""GPIO controls on gpiozero's MockFactory pins: recording LED, fault patterns, session button."""

from __future__ import annotations

import dataclasses
import time

import pytest
from gpiozero.pins.mock import MockFactory

from edge.config import GpioConfig
from edge.device.controls import FAULT_PATTERNS, Controls, Fault, GpioError, make_pin_factory

GPIO = GpioConfig(enabled=True)


@pytest.fixture
def factory():
    f = MockFactory()
    yield f
    f.reset()


def make(factory, presses=None):
    presses = presses if presses is not None else []
    return Controls(GPIO, factory, on_button=lambda: presses.append(time.monotonic())), presses


def test_recording_led_follows_analysing(factory):
    c, _ = make(factory)
    led = factory.pin(GPIO.recording_led_pin)
    assert led.state is False
    c.set_analysing(True)
    assert led.state is True and c.analysing
    c.set_analysing(True)  # idempotent: no flicker
    c.set_analysing(False)
    assert led.state is False
    led.assert_states([False, True, False])
    c.close()


def test_button_press_calls_back_once_per_press(factory):
    c, presses = make(factory)
    btn = factory.pin(GPIO.button_pin)
    assert btn.state is True  # pulled up: released
    btn.drive_low()
    btn.drive_high()
    time.sleep(0.08)  # past the 50 ms debounce
    btn.drive_low()
    btn.drive_high()
    assert len(presses) == 2
    c.close()


def blink_timing(pin, seconds):
    """Measured (on, off) durations from the mock pin's recorded state changes."""
    pin.clear_states()
    time.sleep(seconds)
    states = list(pin.states)
    ons = [b.timestamp for a, b in zip(states, states[1:]) if a.state and not b.state]
    offs = [b.timestamp for a, b in zip(states, states[1:]) if not a.state and b.state]
    return ons, offs


def test_fault_patterns_show_the_most_urgent_fault(factory):
    c, _ = make(factory)
    pin = factory.pin(GPIO.fault_led_pin)
    c.set_faults({Fault.NO_FACE, Fault.CAMERA_LOST})
    assert c.shown_fault is Fault.CAMERA_LOST
    ons, offs = blink_timing(pin, 0.7)
    on, off = FAULT_PATTERNS[Fault.CAMERA_LOST]
    # MockPin timestamps are the time since the previous change
    assert len(ons) >= 2 and all(abs(t - on) < 0.05 for t in ons), ons
    assert all(abs(t - off) < 0.05 for t in offs[1:]), offs
    c.set_faults({Fault.NO_FACE, Fault.BROKER_UNREACHABLE})
    assert c.shown_fault is Fault.BROKER_UNREACHABLE
    ons, _ = blink_timing(pin, 2.3)
    assert any(abs(t - 1.0) < 0.1 for t in ons), ons
    c.set_faults({Fault.NO_FACE})
    assert c.shown_fault is Fault.NO_FACE
    ons, offs = blink_timing(pin, 2.3)
    assert ons and all(abs(t - 0.1) < 0.05 for t in ons), ons
    assert any(abs(t - 1.9) < 0.1 for t in offs), offs
    c.set_faults(set())
    time.sleep(0.05)
    assert pin.state is False and c.shown_fault is None
    c.close()


def test_pin_factory_is_chosen_in_one_place_and_never_silently_mocked(caplog):
    assert make_pin_factory(GpioConfig(enabled=False), {"GPIOZERO_PIN_FACTORY": "mock"}) is None
    f = make_pin_factory(GPIO, {"GPIOZERO_PIN_FACTORY": "mock"})
    assert isinstance(f, MockFactory)
    assert "simulated" in caplog.text
    f.close()
    with pytest.raises(GpioError, match="unknown pin factory .*'nonsense'"):
        make_pin_factory(GPIO, {"GPIOZERO_PIN_FACTORY": "nonsense"})
    # This machine has no GPIO chip: the default factory fails loudly instead of mocking.
    with pytest.raises(GpioError, match="pin factory 'lgpio' cannot start|unknown pin factory 'lgpio'"):
        make_pin_factory(GPIO, {})


def test_pins_come_from_the_config(factory):
    cfg = dataclasses.replace(GPIO, recording_led_pin=5, fault_led_pin=6, button_pin=13)
    c = Controls(cfg, factory, on_button=lambda: None)
    c.set_analysing(True)
    assert factory.pin(5).state is True
    c.close()
