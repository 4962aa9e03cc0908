"""Secrets are masked in text and in log records."""

from __future__ import annotations

import logging

import pytest

from movie_director.redact import RedactingFilter, install_log_filter, redact, register_secret


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
        ("key sk-test-master here", "test-master"),
        ('{"api_key": "xyz123"}', "xyz123"),
        ("http://user:pw1234@host/x", "pw1234"),
        ("?token=abcd&x=1", "abcd"),
        ("x-api-key: sk-abcdefgh", "abcdefgh"),
    ],
)
def test_patterns(text: str, leak: str) -> None:
    assert leak not in redact(text)


def test_registered_values() -> None:
    register_secret("plain-looking-value")
    assert redact("value=plain-looking-value.") == "value=***."


def test_log_records_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("movie_director.test_redact")
    logger.addFilter(RedactingFilter())
    install_log_filter()
    install_log_filter()  # idempotent
    assert sum(isinstance(f, RedactingFilter) for f in logging.getLogger("movie_director").filters) == 1
    with caplog.at_level(logging.INFO):
        logger.info("sending %s", "Authorization: Bearer s3cr3t-token")
    assert "s3cr3t-token" not in caplog.text
