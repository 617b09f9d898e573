"""Log format: JSON for machines, readable lines for a person at a terminal."""

from __future__ import annotations

import pytest

from app.config import Profile, Settings
from app.logging import json_lines

SECRET = "a-production-secret-of-at-least-32-bytes"


@pytest.mark.parametrize(
    ("profile", "terminal", "configured", "expected"),
    [
        (Profile.DEVELOPMENT, True, None, False),  # make run in a terminal
        (Profile.DEVELOPMENT, False, None, True),  # piped, in a container, to a file
        (Profile.PRODUCTION, True, None, True),
        (Profile.PRODUCTION, True, False, False),  # JIFEN_LOG_JSON decides when set
        (Profile.DEVELOPMENT, True, True, True),
    ],
)
def test_json_unless_a_person_is_reading(
    monkeypatch: pytest.MonkeyPatch,
    profile: Profile,
    terminal: bool,
    configured: bool | None,
    expected: bool,
) -> None:
    monkeypatch.setattr("sys.stderr.isatty", lambda: terminal)
    settings = Settings(env=profile, jwt_secret=SECRET, log_json=configured, _env_file=None)  # type: ignore[call-arg]
    assert json_lines(settings) is expected
