"""The log goes to a rotating file in the data dir, secrets masked, never to the console without -v."""

from __future__ import annotations

import logging

from movie_director.logs import LOG_FILE, configure_logging, last_lines, reset_logging
from movie_director.redact import register_secret


def test_library_and_own_records_go_to_the_file_not_the_console(tmp_path, capfd):
    path = configure_logging(tmp_path, verbose=0)
    try:
        register_secret("sk-very-secret-key")
        logging.getLogger("urllib3.connectionpool").warning("Retrying (Retry(total=2)) with sk-very-secret-key")
        logging.getLogger("movie_director.liveness").info("comfyui: liveness lost (stream ended)")
        logging.getLogger("websocket").debug("not at the default level")
    finally:
        reset_logging()
    assert path == tmp_path / LOG_FILE
    assert capfd.readouterr().err == ""
    lines = last_lines(tmp_path)
    assert len(lines) == 2
    assert "urllib3.connectionpool: Retrying" in lines[0] and "sk-very-secret-key" not in lines[0]
    assert "liveness lost" in lines[1]
    assert last_lines(tmp_path / "nowhere") == []


def test_verbose_also_shows_the_log_on_stderr(tmp_path, capfd):
    configure_logging(tmp_path, verbose=1)
    try:
        logging.getLogger("urllib3.connectionpool").warning("Retrying now")
    finally:
        reset_logging()
    assert "urllib3.connectionpool: Retrying now" in capfd.readouterr().err
