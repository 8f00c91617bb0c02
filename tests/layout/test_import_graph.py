"""The package layout holds: the firmware imports no simulation, the server and app no firmware.

A Pi's `tcu run` must not load the virtual modem or the stand-in servers, and the OVMS server must be
usable without the firmware (issue 13). Checked twice: statically (every import statement, including
the ones inside functions) and at run time (importing every firmware module loads none of them).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package → module prefixes it must never import
RULES = {
    "tcu": ("tools", "sim", "modem.emulator", "can_bus.car"),
    "tools/server": ("tcu", "sim"),
    "tools/app": ("tcu", "sim"),
    "ovms_v2": ("tcu", "sim", "tools"),
    "mqtt311": ("tcu", "sim", "tools"),
    "modem/driver": ("tcu", "sim", "tools", "modem.emulator"),
}


def imports_of(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


def forbidden(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("package", sorted(RULES))
def test_no_forbidden_import_statement(package: str) -> None:
    bad = [f"{f.relative_to(ROOT)}:{line}: imports {name}"
           for f in sorted((ROOT / package).rglob("*.py"))
           for line, name in imports_of(f) if forbidden(name, RULES[package])]
    assert bad == [], "\n".join(bad)


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from modem.emulator.modem import VirtualModem\n")
    assert [n for _, n in imports_of(f) if forbidden(n, RULES["tcu"])] == ["modem.emulator.modem"]


def test_importing_the_firmware_loads_no_simulation() -> None:
    code = (
        "import importlib, pkgutil, sys, tcu\n"
        "for m in pkgutil.walk_packages(tcu.__path__, 'tcu.'):\n"
        "    importlib.import_module(m.name)\n"
        "from tcu import cli\n"
        "try:\n"
        "    cli.main(['run', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('tools', 'sim') or n.startswith('modem.emulator')"
        " or n.startswith('can_bus.car'))\n"
        "print('LOADED', bad)\n"
    )
    # sim.cli itself is allowed (the entry point that adds `tcu sim`); nothing it would import is.
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    loaded = eval(out.split("LOADED", 1)[1])  # noqa: S307 - our own printout
    assert [n for n in loaded if n not in ("sim", "sim.cli")] == []
