"""The ICLR Blogposts track's rules, checked on a distill post folder before a pull request.

A folder holds what the pull request adds to a fork of the track's site (the distill flavour's
``distill/``, or a fork's checkout limited to one post): one post ``_posts/DATE-NAME.md`` and
its ``assets/img/DATE-NAME/``, ``assets/html/DATE-NAME/`` and
``assets/bibliography/DATE-NAME.bib``, nothing else. The post's front matter has the track's
fields, its ``toc`` names its headings, its description has no double quote or link and one to
three sentences, and every file the post and its HTML pages name is there. Each check is a pure
function returning findings, one line each; :func:`check_folder` reads the folder.
"""

from __future__ import annotations

import html
import posixpath
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from reportgen.errors import ReportgenError
from reportgen.publish.flavours.distill import MAX_SENTENCES, POST_LAYOUT, jekyll_slugify

_POST = re.compile(r"_posts/((\d{4}-\d{2}-\d{2})-[^/]+)\.(?:md|html)")
_FRONT_MATTER = re.compile(r"\A---\n(.*?\n)---\n(.*)\Z", re.DOTALL)
_HTML_HEADING = re.compile(r"<h([23])\b([^>]*)>(.*?)</h\1>", re.DOTALL)
_MARKDOWN_HEADING = re.compile(r"^(#{2,3})\s+(.*?)\s*(?:\{#[^}]*\})?\s*$", re.MULTILINE)
_CODE_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_ID = re.compile(r'\bid="([^"]*)"')
_TAG = re.compile(r"<[^>]+>")
_QUOTES = re.compile('["“”„‟«»]|&quot;|&#34;|&#x22;', re.IGNORECASE)
_LINKS = re.compile(r"https?://|ftp://|www\.|\]\(|<a\b|\[[^\]]*\]\[", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
# Files a post names: include paths, relative_url arguments, src and href attributes.
_INCLUDE_PATH = re.compile(r"\{%-?\s*include\s+\S+[^%]*?\bpath=[\"']([^\"']+)[\"']")
_RELATIVE_URL = re.compile(r"\{\{-?\s*['\"]([^'\"]+)['\"]\s*\|\s*relative_url\s*-?\}\}")
_ATTRIBUTE_URL = re.compile(r"\b(?:src|href)=[\"']([^\"'{}]+)[\"']")
_CITE = re.compile(r"<d-cite\s+key=[\"']([^\"']+)[\"']")
_BIB_KEY = re.compile(r"@\w+\s*\{\s*([^,\s]+)\s*,")
_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//|#)", re.IGNORECASE)
REQUIRED_FIELDS = ("layout", "title", "description", "date", "authors", "bibliography", "toc")


def post_of(files: Iterable[str]) -> tuple[str | None, list[str]]:
    """The post's file among ``files`` (POSIX paths relative to the folder), with findings when
    there is not exactly one."""
    posts = [file for file in files if _POST.fullmatch(file)]
    if len(posts) == 1:
        return posts[0], []
    found = ", ".join(posts) if posts else "none"
    return None, [f"_posts/: expected one post named _posts/YYYY-MM-DD-NAME.md, found {found}"]


def check_paths(files: Iterable[str], name: str) -> list[str]:
    """Findings for files outside the four places a submission ``name`` may touch."""
    allowed = (f"assets/img/{name}/", f"assets/html/{name}/")
    own = {f"_posts/{name}.md", f"_posts/{name}.html", f"assets/bibliography/{name}.bib"}
    return [
        f"{file}: outside the four places a submission may touch (_posts/{name}.md, "
        f"{allowed[0]}, {allowed[1]}, assets/bibliography/{name}.bib)"
        for file in files
        if file not in own and not file.startswith(allowed)
    ]


def split_front_matter(text: str) -> tuple[str, str] | None:
    """(front matter, body) of a post, or None without front matter."""
    match = _FRONT_MATTER.match(text)
    return (match.group(1), match.group(2)) if match else None


def check_front_matter(meta: Any, post: str, name: str, date: str) -> list[str]:
    """Findings for the track's front matter fields of the post ``post`` named ``name``."""
    if not isinstance(meta, Mapping):
        return [f"{post}: the front matter is not a mapping of fields"]
    findings = [
        f"{post}: front matter has no {field}" for field in REQUIRED_FIELDS if field not in meta
    ]
    if "layout" in meta and meta["layout"] != POST_LAYOUT:
        findings.append(f"{post}: layout is {meta['layout']!r}, the track needs {POST_LAYOUT}")
    if "title" in meta and not (isinstance(meta["title"], str) and meta["title"].strip()):
        findings.append(f"{post}: title is empty")
    if "date" in meta and str(meta["date"])[:10] != date:
        findings.append(f"{post}: date {meta['date']} is not the file name's {date}")
    for flag in ("future", "htmlwidgets"):
        if meta.get(flag) is not True:
            findings.append(f"{post}: {flag} must be true")
    authors = meta.get("authors")
    if "authors" in meta and not (
        isinstance(authors, list)
        and authors
        and all(isinstance(author, Mapping) and author.get("name") for author in authors)
    ):
        findings.append(f"{post}: authors must list each author's name (- name: Anonymous)")
    if "bibliography" in meta and meta["bibliography"] != f"{name}.bib":
        findings.append(f"{post}: bibliography is {meta['bibliography']!r}, not {name}.bib")
    return findings


def check_description(text: Any, post: str) -> list[str]:
    """Findings for a description with quotes or links, or not one to three sentences."""
    if not isinstance(text, str) or not text.strip():
        return [f"{post}: description is empty"]
    findings = []
    if _QUOTES.search(text):
        findings.append(f"{post}: description has a double quote (it breaks the bibliography)")
    if _LINKS.search(text):
        findings.append(f"{post}: description has a link")
    sentences = len(_SENTENCE_END.findall(text.strip() + " ")) or 1
    if sentences > MAX_SENTENCES:
        findings.append(f"{post}: description has {sentences} sentences; at most {MAX_SENTENCES}")
    return findings


def headings(body: str) -> list[tuple[int, str, str | None]]:
    """(level, decoded text, id or None) of the body's level 2 and 3 headings, HTML or
    Markdown, in order; code blocks left out."""
    body = _CODE_FENCE.sub("", body)
    found = []
    for match in _HTML_HEADING.finditer(body):
        anchor = _ID.search(match.group(2))
        text = html.unescape(_TAG.sub("", match.group(3))).strip()
        found.append((match.start(), int(match.group(1)), text, anchor and anchor.group(1)))
    for match in _MARKDOWN_HEADING.finditer(body):
        text = html.unescape(_TAG.sub("", match.group(2))).strip()
        found.append((match.start(), len(match.group(1)), text, None))
    return [entry[1:] for entry in sorted(found)]


def toc_entries(toc: Any) -> list[tuple[int, str]] | None:
    """(level, decoded name) of a front matter toc in order; None when it is malformed."""
    if not isinstance(toc, list) or not toc:
        return None
    entries = []
    for section in toc:
        if not isinstance(section, Mapping) or not isinstance(section.get("name"), str):
            return None
        entries.append((2, html.unescape(section["name"]).strip()))
        for sub in section.get("subsections") or []:
            if not isinstance(sub, Mapping) or not isinstance(sub.get("name"), str):
                return None
            entries.append((3, html.unescape(sub["name"]).strip()))
    return entries


def check_toc(toc: Any, body: str, post: str) -> list[str]:
    """Findings where the toc's names are not the body's headings (sections level 2,
    subsections level 3, in order), or link an id no heading has."""
    entries = toc_entries(toc)
    if entries is None:
        return [f"{post}: toc must list sections as '- name: ...' (subsections likewise)"]
    found = headings(body)
    findings = []
    if entries != [(level, text) for level, text, _ in found]:
        shown = [text for _, text, _ in found]
        missing = [name for _, name in entries if name not in shown]
        extra = [text for text in shown if text not in {name for _, name in entries}]
        detail = "; ".join(
            [*(f"no heading {name!r}" for name in missing), *(f"{t!r} not in toc" for t in extra)]
        )
        findings.append(f"{post}: toc names are not the headings ({detail or 'order or level'})")
    anchors = {(level, text): anchor for level, text, anchor in found if anchor is not None}
    for (level, name), link in zip(entries, _toc_links(toc), strict=True):
        anchor = anchors.get((level, name))
        if anchor is not None and anchor != link:
            findings.append(
                f"{post}: toc entry {name!r} links #{link}, but its heading's id is {anchor!r}"
            )
    return findings


def _toc_links(toc: list) -> list[str]:
    """The anchor al-folio links each toc entry to, in order: Jekyll's slugify of its name as
    the front matter gives it (character references and all, as an escaped name keeps them)."""
    names = []
    for section in toc:
        names.append(section["name"])
        names += [sub["name"] for sub in section.get("subsections") or []]
    return [jekyll_slugify(name) for name in names]


def post_references(body: str) -> list[str]:
    """The site files a post names, from the site root: include paths, relative_url arguments
    and attributes that name assets."""
    found = [*_INCLUDE_PATH.findall(body), *_RELATIVE_URL.findall(body)]
    found += [url for url in _ATTRIBUTE_URL.findall(body) if url.lstrip("/").startswith("assets/")]
    return list(dict.fromkeys(url.lstrip("/").split("#")[0].split("?")[0] for url in found))


def page_references(page: str, text: str) -> list[str]:
    """The files an HTML page under assets/ names by relative address, from the site root;
    addresses outside ``assets/`` (the post) left out."""
    folder = posixpath.dirname(page)
    found = []
    for url in _ATTRIBUTE_URL.findall(text):
        if _EXTERNAL.match(url):
            continue
        target = posixpath.normpath(posixpath.join(folder, url.split("#")[0].split("?")[0]))
        if target.startswith("assets/"):
            found.append(target)
    return list(dict.fromkeys(found))


def check_references(
    referrer: str, references: Iterable[str], files: set[str], name: str
) -> list[str]:
    """Findings for references to files that are missing or not the submission's own."""
    findings = []
    own = (f"assets/img/{name}/", f"assets/html/{name}/")
    for reference in references:
        if not reference.startswith(own):
            findings.append(f"{referrer}: names {reference}, outside the submission's assets")
        elif reference not in files:
            findings.append(f"{referrer}: names {reference}, which is missing")
    return findings


def check_citations(body: str, bib: str | None, post: str, bib_path: str) -> list[str]:
    """Findings for a missing bibliography or keys cited but not defined in it."""
    if bib is None:
        return [f"{post}: its bibliography {bib_path} is missing"]
    keys = set(_BIB_KEY.findall(bib))
    cited = [key.strip() for keys_ in _CITE.findall(body) for key in keys_.split(",")]
    return [
        f"{post}: cites {key}, which {bib_path} does not define"
        for key in dict.fromkeys(cited)
        if key not in keys
    ]


def check_folder(folder: Path) -> tuple[str | None, list[str]]:
    """The post's name (DATE-NAME) and every finding on ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReportgenError(f"{folder} is not a folder")
    files = sorted(
        path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()
    )
    post, findings = post_of(files)
    if post is None:
        return None, findings
    match = _POST.fullmatch(post)
    name, date = match.group(1), match.group(2)
    findings += check_paths(files, name)
    parts = split_front_matter((folder / post).read_text(encoding="utf-8"))
    if parts is None:
        return name, [*findings, f"{post}: no front matter between --- lines"]
    import yaml  # transformers' dependency, so always there

    try:
        meta = yaml.safe_load(parts[0])
    except yaml.YAMLError as error:
        return name, [
            *findings,
            f"{post}: front matter is not YAML ({' '.join(str(error).split())})",
        ]
    body = parts[1]
    findings += check_front_matter(meta, post, name, date)
    if isinstance(meta, Mapping):
        findings += check_description(meta.get("description"), post)
        findings += check_toc(meta.get("toc"), body, post)
    present = set(files)
    findings += check_references(post, post_references(body), present, name)
    bib_path = f"assets/bibliography/{name}.bib"
    bib = (folder / bib_path).read_text(encoding="utf-8") if bib_path in present else None
    findings += check_citations(body, bib, post, bib_path)
    for page in files:
        if page.startswith(f"assets/html/{name}/") and page.endswith(".html"):
            text = (folder / page).read_text(encoding="utf-8")
            findings += check_references(page, page_references(page, text), present, name)
    return name, findings
