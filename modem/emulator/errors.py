"""Final result codes a command can fail with (27.007 §9.2 / 27.005 §3.2.5)."""

from __future__ import annotations

CME_TEXT = {
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    11: "SIM PIN required",
    16: "incorrect password",
    21: "invalid index",
    30: "no network service",
    100: "unknown",
    148: "unspecified GPRS error",
}

CMS_TEXT = {
    300: "ME failure",
    302: "operation not allowed",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    310: "SIM not inserted",
    321: "invalid memory index",
    322: "memory full",
    330: "SMSC address unknown",
    331: "no network service",
    332: "network timeout",
    500: "unknown error",
}


class AtError(Exception):
    """Plain ERROR: what a SIM800 answers to unknown commands and bad syntax."""

    def render(self, cmee: int) -> str:
        return "ERROR"


class CmeError(AtError):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code

    def render(self, cmee: int) -> str:
        if cmee == 1:
            return f"+CME ERROR: {self.code}"
        if cmee == 2:
            return f"+CME ERROR: {CME_TEXT.get(self.code, 'unknown')}"
        return "ERROR"


class CmsError(AtError):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code

    def render(self, cmee: int) -> str:
        if cmee == 1:
            return f"+CMS ERROR: {self.code}"
        if cmee == 2:
            return f"+CMS ERROR: {CMS_TEXT.get(self.code, 'unknown error')}"
        return "ERROR"
