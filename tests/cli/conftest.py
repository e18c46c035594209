from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "240")  # rich wraps at the terminal width
