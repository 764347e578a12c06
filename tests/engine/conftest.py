"""Fixtures of the engine's tests."""

from __future__ import annotations

import pytest

from tests.support.chat_server import ChatServer


@pytest.fixture
def server():
    """A real OpenAI-compatible chat server on 127.0.0.1 (the judge's and the teacher's)."""
    srv = ChatServer().start()
    yield srv
    srv.stop()
