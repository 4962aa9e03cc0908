"""The misbehaving server itself: each fault on the wire, path selection and pass-through."""

from __future__ import annotations

import json
import time

import pytest
import requests

from movie_director_testing.misbehaving import (
    DEFAULT_BODY,
    FOREIGN_JSON,
    GARBAGE_BYTES,
    HTML_PAGE,
    RETRY_AFTER,
    SERVER_ERROR_MESSAGE,
    MisbehavingServer,
)


def get(url: str, timeout: float = 2.0) -> requests.Response:
    with requests.Session() as session:
        return session.get(url, timeout=timeout)


@pytest.mark.parametrize(
    ("fault", "status", "content_type", "body"),
    [
        ("html", 200, "text/html; charset=utf-8", HTML_PAGE),
        ("wrong_shape", 200, "application/json", json.dumps(FOREIGN_JSON).encode()),
        ("server_error", 500, "application/json", None),
        ("rate_limited", 429, "application/json", None),
    ],
)
def test_answers_of_the_wrong_kind(fault: str, status: int, content_type: str, body: bytes | None) -> None:
    with MisbehavingServer(fault) as bad:
        response = get(bad.url + "/x")
    assert (response.status_code, response.headers["Content-Type"]) == (status, content_type)
    if body is not None:
        assert response.content == body
    if fault == "server_error":
        assert response.json()["error"]["message"] == SERVER_ERROR_MESSAGE
    if fault == "rate_limited":
        assert response.headers["Retry-After"] == RETRY_AFTER


def test_garbage_is_ten_megabytes_labelled_json() -> None:
    with MisbehavingServer("garbage") as bad:
        response = get(bad.url)
    assert len(response.content) == GARBAGE_BYTES and response.headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError):
        response.json()


def test_silence_holds_until_the_client_leaves() -> None:
    with MisbehavingServer("silence") as bad:
        with pytest.raises(requests.ReadTimeout):
            get(bad.url, timeout=0.3)
        assert bad.count("GET", "/") == 1


def test_truncated_announces_more_than_it_sends() -> None:
    with MisbehavingServer("truncated") as bad, pytest.raises(requests.exceptions.ChunkedEncodingError):
        get(bad.url)


@pytest.mark.parametrize("fault", ["slow_headers", "slow_body"])
def test_drips_outlast_a_per_read_timeout(fault: str) -> None:
    with MisbehavingServer(fault, drip=0.05, drip_for=0.6) as bad:
        started = time.monotonic()
        response = get(bad.url, timeout=0.3)
    assert response.content == DEFAULT_BODY
    assert time.monotonic() - started >= 0.6


def test_only_the_chosen_paths_misbehave_and_forwarding_is_recorded() -> None:
    with MisbehavingServer("ok") as upstream, MisbehavingServer("server_error", upstream=upstream.url, paths=["POST /broken"]) as bad:
        assert get(bad.url + "/fine").content == DEFAULT_BODY
        assert requests.post(bad.url + "/broken", json={}, timeout=2).status_code == 500
        assert requests.get(bad.url + "/broken", timeout=2).ok
        assert bad.count("POST", "/broken", forwarded=False) == 1
        assert upstream.count("GET", "/broken") == 1 and upstream.count("POST", "/broken") == 0


def test_answer_spoiling_faults_forward_first() -> None:
    with MisbehavingServer("ok") as upstream, MisbehavingServer("wrong_content_type", upstream=upstream.url) as bad:
        response = get(bad.url + "/a")
        assert response.headers["Content-Type"] == "text/html; charset=utf-8" and response.json()["status"] == "ok"
        bad.set("lost_answer")
        with pytest.raises(requests.ReadTimeout):
            get(bad.url + "/b", timeout=0.3)
        assert upstream.count("GET", "/b") == 1 and bad.count("GET", "/b", forwarded=True) == 1


def test_unknown_faults_and_upstream_only_faults_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        MisbehavingServer("gremlins")
    with pytest.raises(ValueError, match="needs an upstream"):
        MisbehavingServer("lost_answer")
