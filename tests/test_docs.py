"""The documentation: README.md (for users) and the mkdocs-material pages in docs/.

- mkdocs builds the site with ``--strict``: a broken link or anchor, a page left out of the nav or a nav
  entry without its page fails the build (mkdocs.yml's ``validation``);
- every relative link of README.md and docs/*.md points at a file that exists, and at a heading that
  exists when it names one;
- docs/settings.md lists exactly the fields of ``Settings`` (src/kokoro_server/settings.py); every
  settings table (``| variable | default |``, in any page or the README) gives each one's real default;
  no page names a ``KOKORO_*`` variable that is not a setting;
- README.md keeps the test command that .ci/run runs.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from pydantic import AliasChoices
from pydantic_core import PydanticUndefined

from kokoro_server.settings import Settings
from tests.support.ci import require_module

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
SETTINGS_PAGE = DOCS / "settings.md"


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def without_code_blocks(text: str) -> str:
    return re.sub(r"^[ \t]*(```|~~~).*?^[ \t]*\1[^\n]*$", "", text, flags=re.S | re.M)


def prose(text: str) -> str:
    """The markdown without fenced code blocks and inline code (where brackets are not links)."""
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", without_code_blocks(text), flags=re.S)


LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def relative_links(path: Path) -> list[str]:
    return [target for target in LINK.findall(prose(path.read_text(encoding="utf-8")))
            if not re.match(r"[a-z][a-z0-9+.-]*:", target, re.I)]


def heading_text(line: str) -> str:
    text = line.lstrip("#").strip()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading: its text
    return text.replace("`", "").replace("*", "")


def github_slug(text: str) -> str:
    """GitHub's anchor for a heading of README.md."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def mkdocs_slug(text: str) -> str:
    """Python-Markdown's ``toc`` anchor (mkdocs' default ``slugify``)."""
    value = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


def anchors(path: Path) -> set[str]:
    slug = github_slug if path == README else mkdocs_slug
    found: set[str] = set()
    for line in without_code_blocks(path.read_text(encoding="utf-8")).splitlines():
        if re.match(r"#{1,6} ", line):
            base = slug(heading_text(line))
            name, n = base, 0
            while name in found:  # a repeated heading gets -1, -2 (GitHub) or _1, _2 (mkdocs)
                n += 1
                name = f"{base}-{n}" if path == README else f"{base}_{n}"
            found.add(name)
    return found


def test_every_relative_link_resolves():
    problems = []
    for page in pages():
        for target in relative_links(page):
            file_part, _, anchor = target.partition("#")
            dest = (page.parent / file_part).resolve() if file_part else page
            where = f"{page.relative_to(ROOT)}: [..]({target})"
            if not dest.exists():
                problems.append(f"{where}: no file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
                continue
            if page.parent == DOCS and not dest.is_relative_to(DOCS):
                problems.append(f"{where}: a page may link only inside docs/ (mkdocs serves nothing else); "
                                "name the file in `code` instead")
            if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                problems.append(f"{where}: {dest.name} has no heading with the anchor #{anchor}")
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_mkdocs_builds_strictly(tmp_path):
    require_module("mkdocs", "pip install -e '.[docs]' (mkdocs-material)")
    require_module("material", "pip install -e '.[docs]' (mkdocs-material)")
    site = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                            str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
                           cwd=ROOT, capture_output=True, text=True, timeout=240,
                           env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stdout}\n{build.stderr}"
    for page in sorted(DOCS.glob("*.md")):
        html = site / ("index.html" if page.stem == "index" else f"{page.stem}/index.html")
        assert html.is_file(), f"{page.name} was not built into {html.relative_to(site)}"


def env_name(name: str, field) -> str:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0]).upper()
    return f"KOKORO_{name.upper()}"


def documented_settings(page: Path = SETTINGS_PAGE) -> dict[str, str]:
    """``KOKORO_X`` -> the default cell of its row, in the page's tables headed ``| variable | default |``."""
    rows: dict[str, str] = {}
    in_table = False
    for line in page.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|"):
            in_table = False
        elif cells[:2] == ["variable", "default"]:
            in_table = True
        elif in_table:
            names = re.findall(r"`(KOKORO_[A-Z0-9_]+)`", cells[0])
            defaults = cells[1].split(" / ")  # `KOKORO_A` / `KOKORO_B` | `1` / `2`
            for i, name in enumerate(names):
                assert name not in rows, f"{name} has two rows in {page.name}"
                rows[name] = defaults[i] if len(defaults) == len(names) else cells[1]
    return rows


def shown(value) -> str | None:
    """How docs/settings.md writes a default, or None where it is described in words."""
    if value is None:
        return "unset"  # also written "empty": an empty value is None too
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(value) if value else "empty"
    return None


def test_settings_page_lists_every_setting_with_its_default():
    fields = {env_name(name, field): field for name, field in Settings.model_fields.items()}
    rows = documented_settings()
    missing = sorted(set(fields) - set(rows))
    stale = sorted(set(rows) - set(fields))
    assert not missing, f"settings of the Settings class missing from docs/settings.md: {missing}"
    assert not stale, f"docs/settings.md documents settings that Settings no longer has: {stale}"
    wrong = [f"{page.relative_to(ROOT)}: {problem}" for page in pages()
             for problem in wrong_defaults(fields, documented_settings(page))]
    assert not wrong, "documented defaults differ from Settings:\n" + "\n".join(wrong)


def wrong_defaults(fields: dict, rows: dict[str, str]) -> list[str]:
    """The rows whose default is not the field's (a page's own settings table, or docs/settings.md)."""
    wrong = []
    for name, cell in rows.items():
        field = fields.get(name)
        if field is None:
            wrong.append(f"{name} is not a setting")
            continue
        if field.default is not PydanticUndefined:
            default = field.default
        elif field.default_factory is not None and name != "KOKORO_DATA_DIR":  # a path, in words
            default = field.default_factory()
        else:
            continue
        want = shown(default)
        got = written_default(cell)
        if want is None or got == want or (want == "unset" and got == "empty"):
            continue
        if isinstance(default, (int, float)) and not isinstance(default, bool) and number(got) == default:
            continue
        wrong.append(f"{name}: documented default {cell!r}, Settings says {want!r}")
    return wrong


def written_default(cell: str) -> str:
    """The value a default cell starts with: `code`, or the words before a parenthesis."""
    code = re.match(r"`([^`]*)`", cell)
    return code.group(1) if code else cell.split("(")[0].strip()


UNITS = {"": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


def number(text: str) -> float | None:
    """``5,000,000``, ``-20``, ``512 MiB`` -> the number; None if it is not one."""
    match = re.fullmatch(r"(-?[\d,]*\.?\d+)\s*(KiB|MiB|GiB)?", text.strip())
    return float(match.group(1).replace(",", "")) * UNITS[match.group(2) or ""] if match else None


def test_no_page_names_a_setting_that_does_not_exist():
    settings = {env_name(name, field) for name, field in Settings.model_fields.items()}
    page = SETTINGS_PAGE.read_text(encoding="utf-8")
    not_settings = set(re.findall(r"`(KOKORO_[A-Z0-9_]+)`", page.split("## Not settings", 1)[1]))
    assert not_settings, "docs/settings.md lost its 'Not settings' section"
    unknown = []
    for doc in pages():
        for name in sorted(set(re.findall(r"\bKOKORO_[A-Z0-9_]*[A-Z0-9]\b", doc.read_text(encoding="utf-8")))):
            if name not in settings and name not in not_settings:
                unknown.append(f"{doc.relative_to(ROOT)}: {name}")
    assert not unknown, ("pages name KOKORO_ variables that are not settings (add them to Settings, or to "
                         "'Not settings' in docs/settings.md):\n" + "\n".join(unknown))


def test_readme_keeps_the_ci_test_command():
    """.ci/run installs and runs the README's test command: the README shows what CI does."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = README.read_text(encoding="utf-8")
    block = re.search(r"^## Test\n.*?```bash\n(.*?)```", readme, re.S | re.M)
    assert block, "README.md has no '## Test' section with a bash block"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    installs = [shlex.split(line)[shlex.split(line).index("-q") + 1:]
                for line in ci.splitlines() if re.match(r"\s*python -m pip install -q (?!--upgrade)", line)]
    assert installs, ".ci/run installs nothing?"
    for args in installs:
        assert f"pip install {shlex.join(args)}" in commands, (
            f".ci/run installs {args}; the README's test command must show `pip install {shlex.join(args)}`")
    assert re.search(r"^python -m pytest\b", ci, re.M) and "python -m pytest" in commands
