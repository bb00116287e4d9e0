from __future__ import annotations

from collections.abc import Iterator

import pytest

from edge.vision.pipeline import FacePipeline


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    """One pipeline per module (interpreters take ~0.3 s to build); reset per use."""
    return FacePipeline()


@pytest.fixture(scope="module")
def side_pipeline() -> Iterator[FacePipeline]:
    """The same pipeline with its side thread (emotion CNN beside the landmark model)."""
    p = FacePipeline(side_thread=True)
    yield p
    p.close()
