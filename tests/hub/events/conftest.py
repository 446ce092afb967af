"""Fixtures of the events tests (the recommendation tests' hub)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.recommend import OpenHub, open_reco_hub

__all__ = ["reco_hub"]


@pytest.fixture
def reco_hub(hub_dsn: str, tmp_path: Path) -> OpenHub:
    """Open a hub on the hub tests' database and this test's data_dir."""
    return open_reco_hub(hub_dsn, tmp_path)
