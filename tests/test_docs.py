"""The README and docs/ hold together: every relative link resolves (anchors included, with
GitHub's heading slugs), the README stays short, and no page speaks of work sessions."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 300

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    """The text with fenced code blocks and code spans removed (links there are not links)."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: inline markup dropped, lower case, punctuation other
    than `-` and `_` removed, each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # [text](url) -> text
    text = re.sub(r"<[^>]+>", "", text).lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of a page, duplicates numbered -1, -2, ... as GitHub does."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for match in _HEADING.finditer(_FENCE.sub("", page.read_text(encoding="utf-8"))):
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(page: Path) -> list[str]:
    """Link targets in a page's prose that point inside the repository."""
    targets = _LINK.findall(_prose(page.read_text(encoding="utf-8")))
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I)]


def broken_links(page: Path) -> list[str]:
    """The relative links of `page` whose file, or heading in that file, does not exist."""
    broken = []
    for target in relative_links(page):
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists():
            broken.append(f"{target} (no file {Path(os.path.relpath(dest, ROOT)).as_posix()})")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    return broken


def test_the_docs_folder_has_its_pages():
    names = {p.name for p in PAGES}
    for page in (
        "data-and-flow.md",
        "training.md",
        "evaluation-and-fusion.md",
        "clusters.md",
        "robustness.md",
        "benchmarks.md",
        "troubleshooting.md",
        "development.md",
    ):
        assert page in names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in relative_links(README)}
    assert [p.name for p in PAGES[1:] if p.resolve() not in linked] == []


def test_the_readme_is_at_most_300_lines():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= README_MAX_LINES


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_page_speaks_of_sessions(page):
    lines = page.read_text(encoding="utf-8").splitlines()
    assert [line for line in lines if "session" in line.lower()] == []


def test_the_readme_has_the_quick_start_and_every_command():
    from tsncli.commands import SUMMARIES

    text = README.read_text(encoding="utf-8")
    assert "./scripts/demo.sh" in text and "./scripts/test.sh" in text
    for name, summary in SUMMARIES.items():
        assert f"| `tsn {name}` | {summary} |" in text


def test_a_broken_link_or_anchor_is_found(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Clusters: SLURM and `torchrun`\n\ntext\n")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/a.md#clusters-slurm-and-torchrun) [gone](docs/b.md) "
        "[bad anchor](docs/a.md#nope) [web](https://example.org/x.md) `[code](docs/c.md)`\n"
        "```\n[fenced](docs/d.md)\n```\n"
    )
    assert broken_links(page) == [
        "docs/b.md (no file docs/b.md)",
        "docs/a.md#nope (no heading #nope in a.md)",
    ]


def test_github_slugs_match_githubs():
    assert github_slug("Clusters: SLURM and torchrun") == "clusters-slurm-and-torchrun"
    assert github_slug("`tsn flow --workers 2` against MMAction2's flow extraction") == (
        "tsn-flow---workers-2-against-mmaction2s-flow-extraction"
    )
    assert github_slug("Kinetics-400/600/700 and Something-Something V2") == (
        "kinetics-400600700-and-something-something-v2"
    )
    assert github_slug("How to add …") == "how-to-add-"
