from __future__ import annotations

import pytest

from edge.vision.pipeline import FacePipeline


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    """One pipeline per module (interpreters take ~0.3 s to build); reset per use."""
    return FacePipeline()
