"""The interviewer's controls on GPIO: recording LED, fault LED, session button.

The pin factory is chosen here and only here: `gpio.enabled` switches the
controls on, `$GPIOZERO_PIN_FACTORY` names the factory (lgpio by default on a
Pi 5). A factory that cannot load is an error, never a silent fallback to
mocked pins, and mocked pins are only used when asked for by name.
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from edge.config import GpioConfig
from edge.errors import InputError

log = logging.getLogger(__name__)


class GpioError(InputError):
    """The GPIO pin factory or a pin cannot be used."""


class Fault(enum.Enum):
    CAMERA_FAILED = "camera_failed"
    CAMERA_LOST = "camera_lost"
    BROKER_UNREACHABLE = "broker_unreachable"
    NO_FACE = "no_face"


# Fault LED (on_time, off_time) in seconds, most urgent first: only the most
# urgent active fault is shown, so a pattern always means one thing. An off_time
# of 0 is a steady light: a fault retrying cannot clear (a camera setting refused).
FAULT_PATTERNS: dict[Fault, tuple[float, float]] = {
    Fault.CAMERA_FAILED: (1.0, 0.0),  # steady: needs a person (`journalctl -u microexpr`, then fix the config)
    Fault.CAMERA_LOST: (0.1, 0.1),  # fast flicker
    Fault.BROKER_UNREACHABLE: (1.0, 1.0),  # slow even blink
    Fault.NO_FACE: (0.1, 1.9),  # short flash every 2 s
}


def make_pin_factory(gpio: GpioConfig, environ: Mapping[str, str] | None = None) -> Any | None:
    """The one place a gpiozero pin factory is created; None when GPIO is disabled."""
    if not gpio.enabled:
        return None
    env = os.environ if environ is None else environ
    name = env.get("GPIOZERO_PIN_FACTORY", "") or "lgpio"
    if name.lower() == "mock":
        from gpiozero.pins.mock import MockFactory

        log.warning("GPIO pins are simulated: $GPIOZERO_PIN_FACTORY=mock (no LED or button is connected)")
        return MockFactory()
    from importlib.metadata import entry_points

    for ep in entry_points(group="gpiozero_pin_factories"):
        if ep.name in (name, name.lower()):
            try:
                return ep.load()()
            except Exception as e:
                raise GpioError(
                    f"gpio: pin factory {name!r} cannot start ({e}); set gpio.enabled = false if the unit has no LEDs"
                ) from None
    raise GpioError(f"gpio: unknown pin factory $GPIOZERO_PIN_FACTORY={name!r}")


class Controls:
    """Recording LED (on while analysing), fault LED patterns and the session button.

    `on_button` runs on gpiozero's thread, so it should only hand the press over
    (for example set an event); the unit's loop does the work.
    """

    def __init__(self, gpio: GpioConfig, pin_factory: Any, on_button: Callable[[], None]) -> None:
        from gpiozero import LED, Button

        try:
            self.recording_led = LED(gpio.recording_led_pin, pin_factory=pin_factory)
            self.fault_led = LED(gpio.fault_led_pin, pin_factory=pin_factory)
            self.button = Button(gpio.button_pin, pull_up=True, bounce_time=0.05, pin_factory=pin_factory)
        except Exception as e:
            raise GpioError(f"gpio: cannot claim pins ({e})") from None
        self.button.when_pressed = lambda *_: on_button()
        self._fault: Fault | None = None
        self._analysing = False

    @property
    def analysing(self) -> bool:
        return self._analysing

    @property
    def shown_fault(self) -> Fault | None:
        return self._fault

    def set_analysing(self, analysing: bool) -> None:
        if analysing != self._analysing:
            self._analysing = analysing
            (self.recording_led.on if analysing else self.recording_led.off)()

    def set_faults(self, faults: set[Fault]) -> None:
        """Show the most urgent fault; re-arm the blink only when that changes."""
        shown = next((f for f in FAULT_PATTERNS if f in faults), None)
        if shown is self._fault:
            return
        self._fault = shown
        if shown is None:
            self.fault_led.off()
        else:
            on, off = FAULT_PATTERNS[shown]
            if off <= 0:
                self.fault_led.on()
            else:
                self.fault_led.blink(on_time=on, off_time=off, background=True)

    def close(self) -> None:
        for dev in (self.recording_led, self.fault_led, self.button):
            dev.close()
