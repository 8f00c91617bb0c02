"""The `modem_mux` setting (issue 16): auto by default, on/off, anything else named as an error."""

from __future__ import annotations

import pytest

from tcu.params import RUNTIME_SETTABLE, SPEC_BY_NAME


def test_modem_mux_setting() -> None:
    spec = SPEC_BY_NAME["modem_mux"]
    assert spec.default == "auto"
    assert [spec.parse(v) for v in ("auto", "ON", " off ")] == ["auto", "on", "off"]
    with pytest.raises(ValueError, match="expected auto, on or off, got 'sometimes'"):
        spec.parse("sometimes")
    assert "modem_mux" not in RUNTIME_SETTABLE  # a device setting: not changed by SMS or the server
