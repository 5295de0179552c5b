"""Protocol citations in code resolve inside the repository (docs/protocols/, issue 20).

For every ``.py`` file under ``speechkit/``, ``providers/``, ``conformance/``, ``bench/`` and ``tests/``:

- no citation names the team notes outside the repository (``shared/protocols.md``, ``../shared``) or
  the old single ``protocols.md``;
- every ``docs/protocols/<vendor>.md §N.M`` names an existing file with a heading numbered ``N.M``
  (a third number, ``§2.11.2``, is a numbered item of that section); a bare ``§N.M`` is in one of
  the files cited before it in the module, so the first ``§`` in a module names its file;
- every source key (``SC75``, ``VA-TX``, the key of a ``[C:...]`` tag) is defined in
  ``docs/protocols/sources.md``;
- a provider module that cites a vendor's notes names the public vendor docs (a URL) in its
  docstring.

The notes' own tags are held to the same key table.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "protocols"
SOURCES = DOCS / "sources.md"
SCANNED = ("speechkit", "providers", "conformance", "bench", "tests")
SELF = "tests/core/test_citations.py"  # holds the broken citations its checker is tested on
NON_VENDOR = {"README.md", "sources.md", "common.md"}

STALE = re.compile(r"shared/protocols\.md|\.\./shared\b|(?<![\w/-])protocols\.md")
DOC = re.compile(r"docs/protocols/([\w-]+\.md)")
QUALIFIED = re.compile(r"docs/protocols/([\w-]+\.md)[`\s(]*§")  # a file named with a section
SECTION = re.compile(r"§\s?(\d+(?:\.\d+)*)([a-z]?)(?:\s*[–-]\s*(\d+(?:\.\d+)*))?")
KEY_SHAPE = re.compile(r"\b(?:[A-Z]{2,}(?:-[A-Z]{2,})+|SC\d+)\b")
C_TAG = re.compile(r"\[C:(\S[^\]]*)\]")  # "[C: computed ...]" (a space after the colon) names no key
C_KEY = re.compile(r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*|Issues")
HEADING = re.compile(r"^#{1,6} (\d+(?:\.\d+)*)\.?\s")
ITEM = re.compile(r"^(\d+)\.\s")


def source_keys() -> set[str]:
    """The keys of the source-key table (the first table after ``### 0.1``) of sources.md."""
    lines = SOURCES.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("### 0.1"))
    keys: set[str] = set()
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("| ") and not line.startswith("| key "):
            keys.update(k.strip() for k in re.split(r"[/,]", line.split("|")[1]) if k.strip())
    return keys


def sections(doc: Path) -> dict[str, set[str]]:
    """Heading number -> the numbers of the top-level numbered items directly under it."""
    found: dict[str, set[str]] = {}
    current = None
    fenced = False
    for line in doc.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if fenced:
            continue
        if m := HEADING.match(line):
            current = m.group(1)
            found[current] = set()
        elif line.startswith("#"):
            current = None
        elif current is not None and (m := ITEM.match(line)):
            found[current].add(m.group(1))
    return found


def resolves(number: str, doc: dict[str, set[str]]) -> bool:
    """``N.M`` is a heading, or the longest heading prefix of it has the next number as an item."""
    parts = number.split(".")
    for n in range(len(parts), 0, -1):
        head = ".".join(parts[:n])
        if head in doc:
            return n == len(parts) or parts[n] in doc[head]
    return False


def source_key_problems(text: str, keys: set[str]) -> list[str]:
    """Source keys, bare (``SC75``) or in a ``[C:KEY, KEY]`` tag, that sources.md does not define."""
    cited = set(KEY_SHAPE.findall(text))
    for tag in C_TAG.findall(text):
        for part in re.split(r"[,+;]", tag):
            words = part.split()
            if words and C_KEY.fullmatch(words[0]):
                cited.add(words[0])
    return [f"source key {k} is not defined in docs/protocols/sources.md" for k in sorted(cited - keys)]


def problems(rel: str, text: str, keys: set[str]) -> list[str]:
    """What is wrong with the citations of one file (``rel``: its path in the repository)."""
    found: list[str] = []

    def line_of(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    for m in STALE.finditer(text):
        found.append(f"line {line_of(m.start())}: cites {m.group()!r}, outside the repository")
    docs = [(m.start(), m.group(1)) for m in DOC.finditer(text)]
    for pos, name in docs:
        if not (DOCS / name).is_file():
            found.append(f"line {line_of(pos)}: docs/protocols/{name} does not exist")
    parsed = {name: sections(DOCS / name) for _, name in docs if (DOCS / name).is_file()}
    qualified = [(m.end(), m.group(1)) for m in QUALIFIED.finditer(text)]
    for m in SECTION.finditer(text):
        # "docs/protocols/X.md §N.M" is checked against X; a bare "§N.M" against the files cited so
        # far in the module (section numbers are unique across the notes: §2 is AssemblyAI's)
        own = [name for end, name in qualified if end == m.start() + 1]
        named = own or sorted({name for end, name in qualified if end <= m.start()})
        if not named:
            found.append(f"line {line_of(m.start())}: §{m.group(1)} before any docs/protocols/<vendor>.md")
            continue
        for number in filter(None, (m.group(1), m.group(3))):
            if not any(name in parsed and resolves(number, parsed[name]) for name in named):
                where = " or ".join(f"docs/protocols/{name}" for name in named)
                found.append(f"line {line_of(m.start())}: {where} has no §{number}")
    found += source_key_problems(text, keys)
    if rel.startswith("providers/") and any(name not in NON_VENDOR for _, name in docs):
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if "https://" not in docstring:
            found.append("the module docstring names no public vendor docs (an https:// URL)")
    return found


def scanned() -> list[str]:
    paths = sorted(p for top in SCANNED for p in (ROOT / top).rglob("*.py"))
    rels = (p.relative_to(ROOT).as_posix() for p in paths if ".venv" not in p.parts)
    return [rel for rel in rels if rel != SELF]


@pytest.mark.parametrize("rel", scanned())
def test_citations_resolve(rel: str) -> None:
    found = problems(rel, (ROOT / rel).read_text(), source_keys())
    assert not found, f"{rel}:\n  " + "\n  ".join(found)


def test_notes_tags_are_defined() -> None:
    """The notes themselves cite only keys sources.md defines."""
    keys = source_keys()
    assert {"SC75", "VA-TX", "TX-DOCS", "AAI-SDK", "SM-RT", "Issues"} <= keys
    found = {doc.name: source_key_problems(doc.read_text(), keys) for doc in sorted(DOCS.glob("*.md"))}
    assert not any(found.values()), found


def test_checker_catches_what_it_should() -> None:
    """Each rule fails on a citation that breaks it, and passes the forms the notes allow."""
    keys = source_keys()
    bad = {
        '"""The Telnyx provider (``shared/protocols.md`` §4)."""': "outside the repository",
        '"""Cites ../shared/STYLE.md."""': "outside the repository",
        '"""See protocols.md §4.3."""': "outside the repository",
        '"""Framing (§4.3)."""': "before any docs/protocols",
        '"""See docs/protocols/telnyx.md §4.99."""': "has no §4.99",
        '"""See docs/protocols/telnyx.md §2.2."""': "has no §2.2",
        '"""See docs/protocols/assemblyai.md §2.11.99."""': "has no §2.11.99",
        '"""See docs/protocols/speechmatics.md §3.1–3.99."""': "has no §3.99",
        '"""See docs/protocols/nope.md §1."""': "does not exist",
        '"""See docs/protocols/telnyx.md §4.2, then a bare §2.2."""': "telnyx.md has no §2.2",
        '"""As docs/protocols/telnyx.md §4.2 says (ZZ-NOPE)."""': "ZZ-NOPE is not defined",
        '"""As docs/protocols/telnyx.md §4.2 says [C:QQ-DOCS]."""': "QQ-DOCS is not defined",
        '"""As docs/protocols/telnyx.md §4.2 says (SC99)."""': "SC99 is not defined",
    }
    for source, expected in bad.items():
        found = problems("bench/probe.py", source, keys)
        assert any(expected in p for p in found), (source, found)
    no_url = '"""The provider; sources in docs/protocols/telnyx.md §4."""'
    assert any("no public vendor docs" in p for p in problems("providers/probe.py", no_url, keys))
    good = (
        '"""Follows https://developers.telnyx.com/docs/voice/stt/websocket-streaming;\n'
        "sources in docs/protocols/telnyx.md §4.3 and §4.10.2, §4.11.6c (SC75, VA-TX, [C:TX-DOCS]).\n"
        'A bare §4.5 is in that file; docs/protocols/common.md §6.3 and §5.1 too."""\n'
    )
    assert problems("providers/probe.py", good, keys) == []
