"""Fixtures of the price import tests: the stand-in price sources on loopback (``support.price_server``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.price_server import PriceServer, serve_prices


@pytest.fixture
def price_server() -> Iterator[PriceServer]:
    """SMARD and ENTSO-E as recorded, on 127.0.0.1, stopped after the test."""
    with serve_prices() as server:
        yield server
