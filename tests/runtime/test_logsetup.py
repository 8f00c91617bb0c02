"""Secrets never reach a log line."""

from __future__ import annotations

import io
import logging

from runtime.logsetup import register_secret, setup_logging


def test_registered_secrets_and_keywords_are_redacted() -> None:
    out = io.StringIO()
    setup_logging("DEBUG", stream=out)
    register_secret("s3cr3t-module-pw")
    log = logging.getLogger("tcu.test")
    log.info("SMS from +447700900123: STAT %s", "s3cr3t-module-pw")
    log.info("server password=hunter22 host=127.0.0.1")
    text = out.getvalue()
    assert "s3cr3t-module-pw" not in text and "hunter22" not in text
    assert "STAT ***" in text and "password=***" in text and "host=127.0.0.1" in text
    setup_logging("WARNING")
