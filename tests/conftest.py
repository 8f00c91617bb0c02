"""Suite-wide: each test leaves logging as it found it.

Commands run in-process (`tcu.cli.main([...])` and friends) configure logging as a real process would —
root level, handlers, `logging.disable` — and a later test that reads `caplog` then sees nothing, depending
on the order the suite happens to run in. Saved and restored around every test.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    root = logging.getLogger()
    manager = root.manager
    level, handlers, disabled = root.level, list(root.handlers), manager.disable
    loggers = {name: (lg.level, lg.disabled, lg.propagate) for name, lg in manager.loggerDict.items()
               if isinstance(lg, logging.Logger)}
    yield
    root.setLevel(level)
    root.handlers[:] = handlers
    logging.disable(disabled)
    for name, lg in list(manager.loggerDict.items()):
        if isinstance(lg, logging.Logger) and name in loggers:
            lg.level, lg.disabled, lg.propagate = loggers[name]
    manager._clear_cache()  # type: ignore[attr-defined]  # effective levels are cached per logger
