from __future__ import annotations

import pytest

from tests.support import running_server, test_settings


@pytest.fixture
def settings(tmp_path):
    return test_settings(tmp_path / "data")


@pytest.fixture
async def server(settings):
    async with running_server(settings) as live:
        yield live
