"""Citations a reader can follow (the rule): every file of the repository cites a paper by author,
year and arXiv id, or a page of ``docs/``; none cites a file that is not in the repository (the
team's notes outside it: ``REFERENCE``, ``STYLE.md``, ``DEVELOPERS.md``, ``../shared``). A source a
module cannot link to (the REPO paper's public review record) is cited through ``docs/sources.md``,
so a file that names it links that page."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[1]
OUTSIDE = re.compile(
    r"\bREFERENCE(?:\.md)?\b(?!S)|\bSTYLE\.md\b|\bDEVELOPERS\.md\b|\.\./shared\b|\bshared/REFERENCE"
)
UNLINKED = re.compile(r"review record", re.I)


def _files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    names = [n for n in out.splitlines() if Path(n).suffix in {".py", ".md", ".yaml", ".sh", ".toml", ".txt"}]
    names += [  # files of this change that are not committed yet count too
        n
        for n in subprocess.run(
            ["git", "ls-files", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True
        ).stdout.splitlines()
        if Path(n).suffix in {".py", ".md", ".yaml"}
    ]
    return [ROOT / n for n in names if n != "tests/test_citations.py" and (ROOT / n).is_file()]


def test_no_file_cites_a_file_outside_the_repository():
    bad = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()[:90]}"
        for p in _files()
        for i, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not bad, "cite a paper (author, year, arXiv id) or a docs/ page instead:\n" + "\n".join(bad)


def test_a_file_that_names_the_review_record_links_the_page_that_describes_it():
    bad = [
        str(p.relative_to(ROOT))
        for p in _files()
        if p.name != "sources.md"
        and UNLINKED.search(p.read_text(encoding="utf-8", errors="replace"))
        and "sources.md" not in p.read_text(encoding="utf-8", errors="replace")
    ]
    assert not bad, f"these name the review record without linking docs/sources.md: {bad}"


def test_the_rule_catches_what_it_forbids():
    assert OUTSIDE.search("(see REFERENCE.md §1)") and OUTSIDE.search("REFERENCE §8")
    assert not OUTSIDE.search("REFERENCES = {")  # a variable's name is no citation
