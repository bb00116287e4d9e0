"""One strict configuration model, validated in one place.

Sources, lowest precedence first: built-in defaults, one TOML file
(``--config`` or ``$MICROEXPR_CONFIG``), environment variables, command-line
flags. Unknown keys and wrong types are rejected with the key's name. Secrets
(the MQTT password, the dashboard password) may be given as ``*_file`` paths or
found in ``$CREDENTIALS_DIRECTORY`` (systemd's ``LoadCredential=``).

Every field is documented by its ``doc`` metadata; ``microexpr config --doc``
prints them all.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from edge.config_rules import check_field
from edge.errors import ConfigError, InputError


def _f(default: Any, doc: str) -> Any:
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class DeviceConfig:
    id: str = _f("", "Unique device id; the MQTT topic level and client id. Default: the host name.")
    site: str = _f("", "Site label shown in the fleet view.")
    room: str = _f("", "Room label shown in the fleet view.")
    data_dir: str = _f("", "Where the outbox, clips and state live. Default: $STATE_DIRECTORY or ~/.local/share/microexpr.")
    analysis: str = _f("session", "When `microexpr run` analyses a camera's frames: 'session' (only while an interview "
                                  "session runs; outside one no frame is analysed or stored and the recording LED is "
                                  "off) or 'always'. A replayed video file is always analysed whole.")


@dataclass(frozen=True)
class SourceConfig:
    kind: str = _f("video", "Frame source backend: 'video' (a file), 'webcam' (V4L2 via OpenCV), 'picamera2'.")
    path: str = _f("", "Video file for kind='video'.")
    camera_index: int = _f(0, "V4L2 device index for kind='webcam'.")
    fps: float = _f(120.0, "Requested camera frame rate (frames per second).")
    width: int = _f(1536, "Requested capture width in pixels.")
    height: int = _f(864, "Requested capture height in pixels.")
    exposure_us: int = _f(4000, "Fixed exposure time for picamera2 in microseconds (0 = auto).")
    analogue_gain: float = _f(4.0, "Fixed analogue gain for picamera2 when exposure_us > 0 (a lit room: 2 to 8).")
    mains_hz: int = _f(50, "Mains frequency of the room's lighting for picamera2 (50 or 60; 0 = ignore): a fixed "
                           "exposure is rounded to whole flicker periods where the frame period allows, auto "
                           "exposure avoids the flicker period.")
    format: str = _f("rgb", "picamera2 pixel format of the stream handed on: 'rgb' (the ISP converts) or 'yuv420' "
                            "(converted to RGB on the capture thread; the spotter's optical flow crops the Y plane "
                            "directly, with no grey conversion; a Pi 4 gives the lores stream only this way).")
    stream: str = _f("lores", "picamera2 stream handed to the pipeline: 'lores' (half size, cheaper copy) or 'main'.")
    realtime: bool = _f(False, "Pace a video file to its own frame rate instead of as fast as possible.")
    queue_frames: int = _f(24, "Bounded queue between capture and processing; when full, frames are dropped and "
                              "counted. 24 frames is 200 ms at 120 fps: longer than the stalls measured on a shared "
                              "2-core VM (up to 106 ms), so a stall delays frames instead of losing them.")
    wait: str = _f("auto", "How the analysis loop waits for the next frame: 'sleep' (block; the core idles), "
                           "'poll' (spin, yielding the GIL, for up to two frame periods, then block), or 'auto': poll "
                           "on a virtual machine, sleep on bare metal such as the Pi. A hypervisor hands an idle vCPU "
                           "to other guests, and it comes back late, with cold caches.")


@dataclass(frozen=True)
class VisionConfig:
    models_dir: str = _f("", "Folder holding the verified .tflite files. Default: the repository's models/.")
    threads: int = _f(0, "Interpreter threads per model (0 = choose per model).")
    detect_threshold: float = _f(0.5, "BlazeFace score threshold.")
    presence_threshold: float = _f(0.5, "FaceMesh presence score under which tracking is lost and detection reruns.")
    emotion_every: int = _f(4, "Run the emotion CNN every N frames (and always at a candidate apex).")
    side_thread: bool = _f(True, "Run the emotion CNN and the spotter's optical flow on a second thread, beside the "
                           "landmark model, from the previous frame's landmarks (cuts per-frame latency on 2+ cores).")
    landmark_precision: str = _f("auto", "Landmark model arithmetic: 'fp16' (the derived model that hints XNNPACK to "
                                 "compute in fp16 where the CPU can: 64-bit ARM such as the Pi 5; elsewhere it runs "
                                 "as fp32), 'fp32' (MediaPipe's model as fetched) or 'auto' (fp16 on aarch64).")
    loop: str = _f("pipelined", "The per-frame loop: 'pipelined' (landmark tracking on one thread; the emotion CNN, the "
                   "spotter's optical flow, head pose and spotting on another, frames back in order: the serial "
                   "loop's events, at up to twice its rate on 2+ cores) or 'serial' (every step on one thread: the "
                   "reference). With one usable core (taskset, CPUAffinity=) the pipelined loop runs inline.")
    gil_switch_ms: float = _f(0.5, "With the side thread or the pipelined loop's stage threads: Python's GIL switch "
                              "interval in ms (Python's own is 5). "
                              "The main thread waits up to this long for the GIL when the landmark model returns "
                              "while the side thread runs Python; 0 keeps Python's setting.")


@dataclass(frozen=True)
class SpottingConfig:
    min_micro_ms: float = _f(40.0, "Shortest micro expression, onset to offset, in ms.")
    max_micro_ms: float = _f(500.0, "Longest micro expression in ms; longer events are macro.")
    max_macro_ms: float = _f(20000.0, "Longest macro expression in ms: a longer excursion is reported up to here, "
                             "then where the face is becomes the neutral.")
    threshold: float = _f(7.0, "Onset threshold in robust standard deviations (MAD units) above the neutral baseline.")
    baseline_s: float = _f(3.0, "Length of the rolling neutral baseline window in seconds.")
    flow: bool = _f(True, "Add optical flow in facial regions (aligned face, against a neutral reference) to the landmark AUs.")
    pose_recorrect: bool = _f(False, "Correct the stored neutral each time the pose residual's fit changes (consistent, "
                              "but it scored worse on the real development clips: docs/spotting.md, session 26).")


@dataclass(frozen=True)
class OutboxConfig:
    max_mb: float = _f(256.0, "Size cap of the outbox database in MiB.")
    max_age_days: float = _f(30.0, "Events older than this are erased, delivered or not (retention).")
    max_events: int = _f(200_000, "Count cap of stored events.")


@dataclass(frozen=True)
class MqttConfig:
    url: str = _f("", "Broker URL mqtt://[user[:password]@]host[:port] or mqtts://...; empty = buffer only.")
    prefix: str = _f("microexpr", "Topic prefix.")
    client_id: str = _f("", "MQTT client id. Default: microexpr-<device id>.")
    username: str = _f("", "Username (overrides the URL's).")
    password: str = _f("", "Password (prefer password_file or $CREDENTIALS_DIRECTORY/mqtt_password).")
    password_file: str = _f("", "File holding the password.")
    ca_file: str = _f("", "CA bundle to verify the broker's certificate (mqtts).")
    cert_file: str = _f("", "Client certificate (PEM) for mutual TLS.")
    key_file: str = _f("", "Client private key (PEM) for mutual TLS.")
    keepalive_s: int = _f(15, "MQTT keep-alive in seconds; the Last Will fires after 1.5x this.")
    session_expiry_s: int = _f(7 * 24 * 3600, "MQTT 5 Session Expiry Interval in seconds (persistent session).")
    max_inflight: int = _f(20, "Unacknowledged QoS 1 messages in flight at most.")
    reconnect_min_s: float = _f(0.5, "First reconnect delay in seconds; doubles (with jitter) after each failure.")
    reconnect_max_s: float = _f(30.0, "Longest reconnect delay in seconds.")
    health_interval_s: float = _f(5.0, "Seconds between health reports.")
    homeassistant: bool = _f(False, "Publish Home Assistant MQTT discovery.")
    discovery_prefix: str = _f("homeassistant", "Home Assistant discovery prefix.")


@dataclass(frozen=True)
class ClipsConfig:
    enabled: bool = _f(True, "Keep a short face-region clip per event for slow-motion review (local only).")
    pre_ms: float = _f(500.0, "Clip starts this long before onset.")
    post_ms: float = _f(500.0, "Clip ends this long after offset.")
    max_mb: float = _f(2048.0, "Size cap of all clips in MiB; oldest go first.")
    max_age_days: float = _f(7.0, "Clips older than this are erased.")
    publish: bool = _f(False, "Allow clips to leave the device. Off by default: no image leaves the unit.")


@dataclass(frozen=True)
class DashboardConfig:
    listen: str = _f("127.0.0.1:8080", "HOST:PORT to listen on; loopback unless told otherwise.")
    database: str = _f("", "Store URL: empty = SQLite in the data dir; postgresql://... to share one store.")
    password: str = _f("", "Login password (prefer password_file or $MICROEXPR_DASHBOARD_PASSWORD).")
    password_file: str = _f("", "File holding the login password.")
    password_hash: str = _f("", "scrypt hash of the password (microexpr dashboard --hash-password).")
    share_group: str = _f("microexpr-dashboard", "MQTT 5 shared-subscription group for several instances.")
    # Sessions and the central store's retention (dashboard/sessions.py, dashboard/retention.py).
    session_key_file: str = _f("", "File holding the cookie-signing key (at least 32 random bytes). Default: "
                                   "$CREDENTIALS_DIRECTORY/dashboard_session_key, else a random key kept in the store "
                                   "(shared on purpose by instances sharing it; --local: in the data dir).")
    trusted_proxies: str = _f("", "Comma-separated addresses of the TLS reverse proxies whose X-Forwarded-For and "
                                  "X-Forwarded-Proto are believed: the client's address (login limit, access log) "
                                  "and https, which marks the session cookie Secure.")
    retention_days: float = _f(30.0, "The central store erases events received longer ago than this (retention).")
    retention_max_events: int = _f(5_000_000, "Count cap of the central store's events; the oldest go first.")
    retention_interval_s: float = _f(3600.0, "Seconds between the central store's retention passes.")


@dataclass(frozen=True)
class GpioConfig:
    enabled: bool = _f(False, "Drive the recording LED, fault LED and session button.")
    recording_led_pin: int = _f(17, "BCM pin of the recording indicator LED (on while analysing).")
    fault_led_pin: int = _f(27, "BCM pin of the fault LED.")
    button_pin: int = _f(22, "BCM pin of the session start/stop button (to ground, internal pull-up).")


@dataclass(frozen=True)
class Config:
    device: DeviceConfig = field(default_factory=DeviceConfig)
    source: SourceConfig = field(default_factory=SourceConfig)
    vision: VisionConfig = field(default_factory=VisionConfig)
    spotting: SpottingConfig = field(default_factory=SpottingConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    clips: ClipsConfig = field(default_factory=ClipsConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    gpio: GpioConfig = field(default_factory=GpioConfig)

    # Derived values, resolved once so no caller re-derives them differently.
    @property
    def device_id(self) -> str:
        return self.device.id or _hostname()

    @property
    def data_dir(self) -> Path:
        if self.device.data_dir:
            return Path(self.device.data_dir).expanduser()
        state = os.environ.get("STATE_DIRECTORY")
        if state:
            return Path(state.split(":")[0])
        return Path.home() / ".local" / "share" / "microexpr"

    @property
    def mqtt_client_id(self) -> str:
        return self.mqtt.client_id or f"microexpr-{self.device_id}"


# Environment variables that work for every command, mapped to section.key.
ENV_KEYS: dict[str, str] = {
    "MICROEXPR_MQTT_URL": "mqtt.url",
    "MICROEXPR_DEVICE_ID": "device.id",
    "MICROEXPR_DATA_DIR": "device.data_dir",
    "MICROEXPR_SITE": "device.site",
    "MICROEXPR_ROOM": "device.room",
    "MICROEXPR_MQTT_PREFIX": "mqtt.prefix",
    "MICROEXPR_SOURCE": "source.kind",
    "MICROEXPR_DASHBOARD_PASSWORD": "dashboard.password",
    "MICROEXPR_MODELS_DIR": "vision.models_dir",
}

# Secret name in $CREDENTIALS_DIRECTORY -> section.key.
CREDENTIALS: dict[str, str] = {
    "mqtt_password": "mqtt.password",
    "dashboard_password": "dashboard.password",
}


def _hostname() -> str:
    import socket

    return socket.gethostname().split(".")[0] or "unit"


def _coerce(key: str, value: Any, typ: Any) -> Any:
    """Check or convert one value to its field type; strings from env/flags convert."""
    t = typ if isinstance(typ, type) else {"str": str, "int": int, "float": float, "bool": bool}.get(str(typ), str)
    if t is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if t is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if t is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    return value


def _merge(raw: dict[str, dict[str, Any]], updates: Mapping[str, Any], origin: str) -> None:
    sections = {f.name: f for f in dataclasses.fields(Config)}
    for dotted, value in updates.items():
        section, _, key = dotted.partition(".")
        if section not in sections or not key:
            raise ConfigError(f"{origin}: unknown key {dotted!r}")
        names = {f.name for f in dataclasses.fields(sections[section].default_factory)}
        if key not in names:
            raise ConfigError(f"{origin}: unknown key {dotted!r}")
        raw.setdefault(section, {})[key] = value


def _flatten_toml(data: Mapping[str, Any], origin: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for section, body in data.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{origin}: top-level key {section!r} must be a [section] table")
        for key, value in body.items():
            flat[f"{section}.{key}"] = value
    return flat


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the validated configuration. Raises ConfigError naming the bad key."""
    env = os.environ if environ is None else environ
    raw: dict[str, dict[str, Any]] = {}
    path = path or env.get("MICROEXPR_CONFIG") or None
    if path:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{p}: config file not found") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{p}: cannot read config file ({e})") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: invalid TOML ({e})") from None
        _merge(raw, _flatten_toml(data, str(p)), str(p))
    creds = env.get("CREDENTIALS_DIRECTORY")
    if creds:
        for name, dotted in CREDENTIALS.items():
            f = Path(creds) / name
            if f.is_file():
                _merge(raw, {dotted: f.read_text(encoding="utf-8").strip()}, f"$CREDENTIALS_DIRECTORY/{name}")
    _merge(raw, {dotted: env[var] for var, dotted in ENV_KEYS.items() if env.get(var)}, "environment")
    if overrides:
        _merge(raw, {k: v for k, v in overrides.items() if v is not None}, "command line")
    return _build(raw)


def _build(raw: dict[str, dict[str, Any]]) -> Config:
    parts: dict[str, Any] = {}
    for sf in dataclasses.fields(Config):
        cls = sf.default_factory
        values = {}
        hints = {f.name: f.type for f in dataclasses.fields(cls)}
        for key, value in raw.get(sf.name, {}).items():
            values[key] = _coerce(f"{sf.name}.{key}", value, hints[key])
            check_field(f"{sf.name}.{key}", values[key])
        parts[sf.name] = cls(**values)
    cfg = Config(**parts)
    _resolve_secret_files(cfg)
    cfg = _resolve_secrets(cfg)
    validate(cfg)
    return cfg


def _resolve_secret_files(cfg: Config) -> None:
    for dotted in ("mqtt.password_file", "dashboard.password_file"):
        section, key = dotted.split(".")
        path = getattr(getattr(cfg, section), key)
        if path and not Path(path).is_file():
            raise ConfigError(f"{dotted}: file {path} not found")


def _resolve_secrets(cfg: Config) -> Config:
    mqtt, dash = cfg.mqtt, cfg.dashboard
    if mqtt.password_file and not mqtt.password:
        mqtt = dataclasses.replace(mqtt, password=Path(mqtt.password_file).read_text(encoding="utf-8").strip())
    if dash.password_file and not dash.password:
        dash = dataclasses.replace(dash, password=Path(dash.password_file).read_text(encoding="utf-8").strip())
    return dataclasses.replace(cfg, mqtt=mqtt, dashboard=dash)


def with_thresholds(cfg: SpottingConfig, values: dict[str, Any]) -> SpottingConfig:
    """Spotting settings changed live (MQTT `set_thresholds`): all valid or InputError, nothing half-applied."""
    names = {f.name for f in dataclasses.fields(SpottingConfig)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise InputError(f"set_thresholds: unknown setting(s) {', '.join(unknown)}")
    checked: dict[str, float] = {}
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise InputError(f"set_thresholds: {k} must be a positive number, got {v!r}")
        check_field(f"spotting.{k}", float(v))
        checked[k] = float(v)
    new = dataclasses.replace(cfg, **checked)
    if not 0 < new.min_micro_ms < new.max_micro_ms < new.max_macro_ms:
        raise InputError("set_thresholds: need 0 < min_micro_ms < max_micro_ms < max_macro_ms")
    return new


def validate(cfg: Config) -> None:
    """Cross-field checks (each field's own range is checked as it loads: `edge.config_rules`)."""
    if not 0 < cfg.spotting.min_micro_ms < cfg.spotting.max_micro_ms < cfg.spotting.max_macro_ms:
        raise ConfigError("spotting: need 0 < min_micro_ms < max_micro_ms < max_macro_ms")
    if cfg.mqtt.url:
        parse_mqtt_url(cfg.mqtt.url)
    if not 0 < cfg.mqtt.reconnect_min_s <= cfg.mqtt.reconnect_max_s:
        raise ConfigError("mqtt.reconnect_min_s, mqtt.reconnect_max_s: need 0 < reconnect_min_s <= reconnect_max_s")
    if "/" in cfg.device_id or "+" in cfg.device_id or "#" in cfg.device_id:
        raise ConfigError(f"device.id: must not contain '/', '+' or '#', got {cfg.device_id!r}")
    if not cfg.mqtt.prefix or any(c in cfg.mqtt.prefix for c in "+#"):
        raise ConfigError(f"mqtt.prefix: must be non-empty without '+' or '#', got {cfg.mqtt.prefix!r}")
    parse_listen(cfg.dashboard.listen)


@dataclass(frozen=True)
class MqttUrl:
    tls: bool
    host: str
    port: int
    username: str
    password: str


def redacted_url(url: str) -> str:
    """The URL as it may be shown or logged: a password in it becomes ***."""
    u = urllib.parse.urlsplit(url)
    user, at, host = u.netloc.rpartition("@")
    if not at or ":" not in user:
        return url
    return urllib.parse.urlunsplit(u._replace(netloc=f"{user.partition(':')[0]}:***@{host}"))


def parse_mqtt_url(url: str) -> MqttUrl:
    """Parse mqtt:// or mqtts:// URLs; the error names the key (and never shows the password)."""
    u = urllib.parse.urlsplit(url)
    shown = redacted_url(url)
    if u.scheme not in ("mqtt", "mqtts"):
        raise ConfigError(f"mqtt.url: scheme must be mqtt:// or mqtts://, got {shown!r}")
    if not u.hostname:
        raise ConfigError(f"mqtt.url: no host in {shown!r}")
    try:
        port = u.port or (8883 if u.scheme == "mqtts" else 1883)
    except ValueError:
        raise ConfigError(f"mqtt.url: bad port in {shown!r}") from None
    return MqttUrl(
        tls=u.scheme == "mqtts",
        host=u.hostname,
        port=port,
        username=urllib.parse.unquote(u.username or ""),
        password=urllib.parse.unquote(u.password or ""),
    )


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"dashboard.listen: expected HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port)
