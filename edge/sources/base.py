"""The small interface every frame source implements."""

from __future__ import annotations

import abc
from collections.abc import Iterator

from edge.errors import SourceError
from edge.sources.frame import Frame


class FrameSource(abc.ABC):
    """Yields Frames until the source ends or is closed.

    `nominal_fps` is what the source claims (container or requested rate); the
    pipeline works in timestamps, so a wrong claim costs only the progress bar.
    """

    name: str = "source"
    nominal_fps: float = 0.0
    frame_count: int | None = None  # known for files, None for cameras

    @abc.abstractmethod
    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None:  # noqa: B027 - optional for sources with nothing to release
        pass

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PermanentSourceError(SourceError):
    """A source that retrying cannot open (a missing package); a setting the camera refuses is a ConfigError."""
