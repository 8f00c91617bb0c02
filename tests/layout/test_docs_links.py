"""The documents hold together: every `DESIGN.md §N` in the code lands on a section of docs/DESIGN.md,
every link in the README and docs/ points at a file (and heading) that exists, and the import rules the
design document states are the ones tests/layout/test_import_graph.py enforces.

Why: the README cited a `DESIGN.md §1` that was not in the repository at all (issue 13), and a design
document nobody checks drifts from the code the day after it is written.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT / "docs" / "DESIGN.md"
SKIP_DIRS = {".git", ".venv", "node_modules", "build", "dist", ".mypy_cache", ".ruff_cache", ".pytest_cache",
             ".hypothesis", "__pycache__"}

# `DESIGN.md §3`, `DESIGN.md` §1, (DESIGN.md §1.4), DESIGN §3
REF = re.compile(r"DESIGN(?:\.md)?`?\)?[ \t]*§[ \t]*(\d+(?:\.\d+)*)")
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
NUMBERED = re.compile(r"^(\d+(?:\.\d+)*)\.?[ \t]")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:[ \t]+\"[^\"]*\")?\)")
BARE_DOC = re.compile(r"(?<![\w/.-])(docs/[\w./-]+\.md)")

# What each cited section is about: a renumbering that moves a topic breaks the references silently.
TOPICS = {"1": "layout", "2": "clock", "3": "fallback", "4": "persistence", "5": "names"}


def walk(root: Path) -> list[Path]:
    """Every file of the project, without descending into virtualenvs, caches, build output or .git."""
    out = []
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        out += [Path(here) / f for f in files]
    return out


def source_files(root: Path) -> list[Path]:
    return sorted(p for p in walk(root) if p.suffix in (".py", ".md"))


def sections(markdown: str) -> dict[str, str]:
    """Section number → heading text, from `## 3. The link…` and `### 1.4 The data path`."""
    out = {}
    for _, text in HEADING.findall(markdown):
        m = NUMBERED.match(text)
        if m:
            out[m.group(1)] = text
    return out


def references(root: Path) -> list[tuple[str, int, str]]:
    """(file, line, section) of every `DESIGN.md §N` outside docs/DESIGN.md, and of every bare `§N`
    inside it (its own cross-references)."""
    out = []
    for path in source_files(root):
        if path == Path(__file__).resolve():
            continue   # this file's examples
        rel = str(path.relative_to(root))
        for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            pattern = re.compile(r"§[ \t]*(\d+(?:\.\d+)*)") if path == root / "docs" / "DESIGN.md" else REF
            out += [(rel, lineno, m.group(1)) for m in pattern.finditer(line)]
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Relative links in a markdown file whose file (or heading anchor) does not exist; in the top
    README also bare mentions of `docs/….md`."""
    text = path.read_text()
    bad = []
    targets = [(m.group(1), "link") for m in LINK.finditer(text)]
    if path == root / "README.md":
        targets += [(m.group(1), "mention") for m in BARE_DOC.finditer(text)]
    for target, how in targets:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):   # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = path if not file_part else (path.parent if how == "link" else root) / file_part
        if not dest.exists():
            bad.append(f"{path.relative_to(root)}: {how} to {target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in {slug(h) for _, h in HEADING.findall(dest.read_text())}:
            bad.append(f"{path.relative_to(root)}: {how} to {target}: no such heading")
    return bad


def import_rules_in_test() -> dict[str, tuple[str, ...]]:
    tree = ast.parse((ROOT / "tests" / "layout" / "test_import_graph.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "RULES" for t in node.targets):
            return dict(ast.literal_eval(node.value))
    raise AssertionError("RULES not found in test_import_graph.py")


def import_rules_in_design() -> dict[str, tuple[str, ...]]:
    text = DESIGN.read_text()
    block = text.split("<!-- import-rules", 1)[1].split("<!-- /import-rules -->", 1)[0]
    rules = {}
    for row in block.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`"):
            rules[cells[0].strip("`")] = tuple(c.strip().strip("`") for c in cells[1].split(","))
    return rules


def test_the_design_document_exists_with_its_cited_sections() -> None:
    found = sections(DESIGN.read_text())
    for number, topic in TOPICS.items():
        assert number in found, f"docs/DESIGN.md has no section {number}"
        assert topic in found[number].lower(), f"§{number} is '{found[number]}', expected it to be about {topic}"


def test_every_design_reference_lands_on_a_section() -> None:
    refs = references(ROOT)
    # The code does cite the document (so a regex that finds nothing cannot pass this test).
    assert ("tcu/link.py", 1, "3") in refs and ("runtime/loop.py", 1, "2") in refs
    found = sections(DESIGN.read_text())
    bad = [f"{f}:{line}: DESIGN.md §{n}" for f, line, n in refs if n not in found]
    assert bad == [], "references to sections docs/DESIGN.md does not have:\n" + "\n".join(bad)


def test_the_checker_sees_a_dangling_reference(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "DESIGN.md").write_text("# d\n\n## 1. Layout\n\nsee §1 and §9\n")
    (tmp_path / "m.py").write_text('"""The unit (DESIGN.md §1); the link (`DESIGN.md` §3), DESIGN §4."""\n')
    refs = references(tmp_path)
    assert sorted(n for _, _, n in refs) == ["1", "1", "3", "4", "9"]
    found = sections((tmp_path / "docs" / "DESIGN.md").read_text())
    assert sorted(n for _, _, n in refs if n not in found) == ["3", "4", "9"]


def test_readme_and_docs_link_only_to_what_exists() -> None:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    bad = [problem for f in files for problem in broken_links(f)]
    assert bad == [], "\n".join(bad)


def test_the_link_checker_sees_a_missing_file_and_heading(tmp_path: Path) -> None:
    doc = tmp_path / "a.md"
    (tmp_path / "b.md").write_text("## 2. Sans-IO cores, one clock\n")
    doc.write_text("[b](b.md#2-sans-io-cores-one-clock) [c](c.md) [x](b.md#nope) [web](https://x.org/y.md)\n")
    assert broken_links(doc, tmp_path) == ["a.md: link to c.md: no such file",
                                           "a.md: link to b.md#nope: no such heading"]
    readme = tmp_path / "README.md"
    readme.write_text("see docs/gone.md and [b](b.md)\n")
    assert broken_links(readme, tmp_path) == ["README.md: mention to docs/gone.md: no such file"]


def test_readme_cites_the_design_document() -> None:
    readme = ROOT / "README.md"
    assert "docs/DESIGN.md" in [m.group(1).partition("#")[0] for m in LINK.finditer(readme.read_text())]


def packages(root: Path) -> list[str]:
    """Every package (a directory with `__init__.py`) of the project but the tests, as `modem/driver`."""
    rels = (p.parent.relative_to(root) for p in walk(root) if p.name == "__init__.py")
    return sorted("/".join(r.parts) for r in rels if r.parts and r.parts[0] != "tests")


def test_the_layout_section_names_every_package() -> None:
    """A new package is a change of layout: §1.1 must say what it is."""
    text = DESIGN.read_text()
    layout = text.split("### 1.1", 1)[1].split("### 1.2", 1)[0]
    found = packages(ROOT)
    assert "tcu/ovms" in found and "modem/driver/dialects" in found
    missing = [p for p in found if not re.search(rf"(?<![\w.]){re.escape(p.split('/')[-1])}/", layout)]
    assert missing == [], f"docs/DESIGN.md §1.1 does not name: {', '.join(missing)}"


def test_the_design_states_the_import_rules_the_test_enforces() -> None:
    assert import_rules_in_design() == import_rules_in_test()
