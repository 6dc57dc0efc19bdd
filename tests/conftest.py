"""Shared fixtures: paths to ../shared/data, an artefacts folder for screenshots and overlays, the demo catalogue
(as an index, and as a fresh in-memory database)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fitmirror.config import REPO_ROOT, SHARED_DATA

ARTIFACTS = REPO_ROOT / "tests" / "artifacts"

os.environ.setdefault("FITMIRROR_ICE_LOOPBACK", "1")

# The fast tier (`make test-fast`, a few seconds): pure logic, no model, browser or peer connection. Session state,
# protocol and SDP munging, layouts and the frame contract, catalogue and vocabulary, rules, the house rules.
FAST_MODULES = {
    "test_architecture",
    "test_catalog_api",
    "test_catalog_schema",
    "test_deploy",
    "test_frame_contract",
    "test_nlu_rules",
    "test_nlu_search",
    "test_server_patches",
    "test_server_state",
    "test_sizing_api",
    "test_sizing_recommend",
    "test_vocab",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.stem in FAST_MODULES:
            item.add_marker(pytest.mark.fast)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"../shared/data not found at {SHARED_DATA}: tests read real data from there")
    return SHARED_DATA


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def demo_catalog():
    """The built-in demo catalogue as the in-memory index sessions and pipelines read (no database)."""
    from fitmirror.catalog import CatalogIndex
    from fitmirror.demo_catalog import demo_products

    return CatalogIndex(list(demo_products()))


@pytest.fixture
def catalog_db():
    """A fresh in-memory catalogue database seeded with the demo catalogue (a test's imports stay its own)."""
    from server.catalog_db import CatalogDB

    db = CatalogDB("sqlite:///:memory:")
    yield db
    db.engine.dispose()
