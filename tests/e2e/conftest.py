"""End-to-end fixtures: the pipeline's stages as processes on the test's servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pipeline_kit import start_pipeline

from journeygate.embedded.pipeline import PipelineProcesses
from kernel.settings import Settings


@pytest.fixture
def pipeline(settings: Settings, tmp_path: Path) -> Iterator[PipelineProcesses]:
    """Bridge, normalizer and store writer running as processes; stopped after the test."""
    processes = start_pipeline(settings, tmp_path / "logs")
    yield processes
    processes.stop_all()
