"""Shared fixtures: paths to ../shared/data, an artefacts folder for screenshots and overlays."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fitmirror.config import REPO_ROOT, SHARED_DATA

ARTIFACTS = REPO_ROOT / "tests" / "artifacts"

os.environ.setdefault("FITMIRROR_ICE_LOOPBACK", "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"../shared/data not found at {SHARED_DATA}: tests read real data from there")
    return SHARED_DATA


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
