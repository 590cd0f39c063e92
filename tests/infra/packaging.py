"""The deployment package as azd and Azure Functions Core Tools build it, ported from their source.

Neither tool runs here, so their packaging rules are reproduced line by line:

- **azd** (Azure/azure-dev ``cli/azd/pkg/project/project_utils.go`` ``createDeployableZip``
  and ``pkg/rzip/rzip.go``, at ae35809f): walks the service folder in name order, resolving
  symbolic links; leaves out a ``.azure`` folder, the ignore file itself and (function
  apps) ``local.settings.json``; then, when ``.funcignore`` exists, every entry whose
  last matching pattern is not a negation, and never walks into a left-out folder.
  Without a ``.funcignore`` it leaves out only Python virtual environments (a folder
  holding ``pyvenv.cfg``) and ``__pycache__``. Patterns are matched by
  ``github.com/denormal/go-gitignore`` (ae8ad1d0) with BSD ``fnmatch``
  (``github.com/danwakefield/fnmatch``, cbb64ac3), both ported below.
- **Core Tools** (Azure/azure-functions-core-tools ``src/Cli/func/Common/GitIgnoreParser.cs``
  and ``FileSystemHelpers.GetLocalFiles``, at 3ee97a63): lists files only, skipping
  ``.git`` and ``.vscode`` folders and ``.funcignore``, ``.gitignore``,
  ``local.settings.json`` and ``project.lock.json`` files at any depth; each pattern
  becomes a regular expression matched at the start of the file's relative path and
  ending at a word boundary, and a file is kept when any negation matches or no other
  pattern does.

Only the pattern syntax ``.funcignore`` uses is supported (no spaces, escapes or
carriage returns); anything else raises ``UnsupportedPatternError`` rather than guessing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

FNM_PATHNAME = 1 << 1  # danwakefield/fnmatch: NOESCAPE=1<<0, PATHNAME=1<<1


class UnsupportedPatternError(ValueError):
    pass


# ---------------------------------------------------------------------------------
# BSD fnmatch (danwakefield/fnmatch Match and rangematch, without the flags azd never sets)
# ---------------------------------------------------------------------------------


def fnmatch(pattern: str, s: str, flags: int = 0) -> bool:  # noqa: PLR0911, PLR0912 - a port
    pathname = bool(flags & FNM_PATHNAME)
    while pattern:
        c, pattern = pattern[0], pattern[1:]
        if c == "?":
            if not s:
                return False
            sc, s = s[0], s[1:]
            if pathname and sc == "/":
                return False
        elif c == "*":
            pattern = pattern.lstrip("*")
            if not pattern:
                return "/" not in s if pathname else True
            if pathname and pattern[0] == "/":
                offset = s.find("/")
                if offset == -1:
                    return False
                s, pattern = s[offset + 1 :], pattern[1:]
                continue
            test = s
            while test:
                if fnmatch(pattern, test, flags):
                    return True
                if pathname and test[0] == "/":
                    break
                test = test[1:]
            return False
        elif c == "[":
            if not s or (pathname and s[0] == "/"):
                return False
            sc, s = s[0], s[1:]
            matched, pattern = _rangematch(pattern, sc)
            if not matched:
                return False
        else:
            if c == "\\" and pattern:
                c, pattern = pattern[0], pattern[1:]
            if not s or s[0] != c:
                return False
            s = s[1:]
    return not s


def _rangematch(pattern: str, test: str) -> tuple[bool, str]:
    """(matched, rest of the pattern after ``]``); an unclosed range never matches."""
    negate = False
    if pattern[:1] in ("^", "!"):
        negate, pattern = True, pattern[1:]
    matched = False
    while not matched and len(pattern) > 1 and pattern[0] != "]":
        c, pattern = pattern[0], pattern[1:]
        if c == "\\":
            if len(pattern) <= 1:
                return False, pattern
            c, pattern = pattern[0], pattern[1:]
        if pattern[0] == "-" and len(pattern) > 1 and pattern[1] != "]":
            c2, pattern = pattern[1], pattern[2:]
            if c <= test <= c2:
                matched = True
        elif c == test:
            matched = True
    closed = False
    while not closed and pattern:
        c, pattern = pattern[0], pattern[1:]
        if c == "\\" and pattern:
            pattern = pattern[1:]
        elif c == "]":
            closed = True
    return closed and matched != negate, pattern


# ---------------------------------------------------------------------------------
# go-gitignore: lexer/parser reduced to the supported syntax, and its three pattern kinds
# ---------------------------------------------------------------------------------

_SEP, _ANY, _WORD = "/", "**", "word"


@dataclass(frozen=True)
class GitIgnorePattern:
    text: str
    negated: bool
    anchored: bool
    directory: bool
    kind: str  # name | path | any
    fnmatch_text: str
    any_tokens: tuple[str, ...]

    def match(self, path: str, isdir: bool) -> bool:
        if self.directory and not isdir:
            return False
        if self.kind == "name":
            if self.anchored:
                return fnmatch(self.fnmatch_text, path)
            return fnmatch(self.fnmatch_text, path.rsplit("/", 1)[-1])
        if self.kind == "path":
            # go-gitignore tries the same full-path match twice; unanchored or not,
            # a path pattern only matches from the base directory.
            return fnmatch(self.fnmatch_text, path, FNM_PATHNAME)
        return _any_match(path.split("/"), list(self.any_tokens))


def _any_match(parts: list[str], tokens: list[str]) -> bool:
    if not tokens:
        return not parts
    token = tokens[0]
    if token == _ANY:
        if not parts:
            return _any_match(parts, tokens[1:])
        return _any_match(parts, tokens[1:]) or _any_match(parts[1:], tokens)
    if parts and fnmatch(token, parts[0], FNM_PATHNAME):
        return _any_match(parts[1:], tokens[1:])
    return False


def _tokens(line: str) -> list[str]:
    if any(ch in line for ch in " \t\r\\"):
        raise UnsupportedPatternError(f"unsupported pattern syntax: {line!r}")
    out: list[str] = []
    i = 0
    while i < len(line):
        if line[i] == "/":
            out.append(_SEP)
            i += 1
        elif line.startswith("**", i):
            out.append(_ANY)
            i += 2
        else:
            j = i
            while j < len(line) and line[j] != "/" and not line.startswith("**", j):
                j += 1
            out.append(line[i:j])
            i = j
    return out


def parse_gitignore_line(line: str) -> GitIgnorePattern | None:
    if not line or line.startswith("#"):
        return None
    negated = line.startswith("!")
    tokens = _tokens(line[1:] if negated else line)
    if not tokens:
        raise UnsupportedPatternError(f"empty pattern: {line!r}")
    anchored = tokens[0] == _SEP
    if anchored:
        tokens = tokens[1:]
    directory = bool(tokens) and tokens[-1] == _SEP
    if directory:
        tokens = tokens[:-1]
    if not tokens:
        raise UnsupportedPatternError(f"pattern names nothing: {line!r}")
    text = "".join(tokens)
    if _ANY in tokens:
        kind = "any"
    elif _SEP in tokens:
        kind = "path"
    else:
        kind = "name"
    any_tokens = tuple(t for t in tokens if t != _SEP)
    return GitIgnorePattern(line, negated, anchored, directory, kind, text, any_tokens)


class GoGitIgnore:
    def __init__(self, text: str) -> None:
        text = text.removeprefix("\ufeff")  # azd strips a UTF-8 BOM first
        self.patterns = [p for p in map(parse_gitignore_line, text.split("\n")) if p]

    def match(self, relative: str, isdir: bool) -> GitIgnorePattern | None:
        """The last pattern that matches, as go-gitignore's Relative()."""
        for pattern in reversed(self.patterns):
            if pattern.match(relative, isdir):
                return pattern
        return None

    def absolute(self, base: str, path: str, isdir: bool) -> GitIgnorePattern | None:
        if not path.startswith(base):  # a symlink's target outside the folder: no match
            return None
        return self.match(path[len(base) + 1 :], isdir)


# ---------------------------------------------------------------------------------
# azd: createDeployableZip for a Python function app
# ---------------------------------------------------------------------------------


def azd_package(root: Path, ignore_file: str = ".funcignore") -> list[str]:
    """Every file path azd would put in the zip, relative to ``root``, in zip order."""
    base = str(root)
    ignore_path = root / ignore_file
    ignorer = GoGitIgnore(ignore_path.read_text()) if ignore_path.is_file() else None

    def include(src: str, name: str, is_link: bool, is_dir: bool) -> bool:
        if is_link:
            is_dir = os.path.isdir(src)  # os.Stat follows the link
        if name == ".azure" and is_dir:
            return False
        if name == ignore_file and not is_dir:
            return False
        if name == "local.settings.json" and not is_dir:
            return False
        if ignorer is not None:
            found = ignorer.absolute(base, src, is_dir)
            return not (found is not None and not found.negated)
        if is_dir and (os.path.isfile(os.path.join(src, "pyvenv.cfg"))):
            return False
        return not (is_dir and name.lower() == "__pycache__")

    out: list[str] = []

    def add_dir(dest_root: str, src: str, depth: int) -> None:
        if depth > 40:
            return
        for name in sorted(os.listdir(src)):
            path = os.path.join(src, name)
            is_link = os.path.islink(path)
            is_dir = not is_link and os.path.isdir(path)
            if not include(path, name, is_link, is_dir):
                continue
            dest = f"{dest_root}/{name}" if dest_root else name
            if is_link:
                target = os.path.realpath(path)
                if os.path.isdir(target):
                    add_dir(dest, target, depth + 1)
                else:
                    out.append(dest)
            elif is_dir:
                add_dir(dest, path, depth)
            else:
                out.append(dest)

    add_dir("", base, 0)
    return out


# ---------------------------------------------------------------------------------
# Core Tools: GitIgnoreParser + FileSystemHelpers.GetLocalFiles
# ---------------------------------------------------------------------------------

_CORE_ESCAPE = re.compile(r"[\-\[\]\/\{\}\(\)\+\?\.\\\^\$\|]")
_CORE_SKIPPED_DIRS = {".git", ".vscode"}
_CORE_SKIPPED_FILES = {".funcignore", ".gitignore", "local.settings.json", "project.lock.json"}


def _core_regex(patterns: list[str]) -> re.Pattern[str]:
    # .NET RegexOptions.ECMAScript: \b is an ASCII word boundary.
    if not patterns:
        return re.compile(r"$^", re.ASCII)
    prepared = [
        _CORE_ESCAPE.sub(lambda m: "\\" + m.group(0), p)
        .replace("**", "(.+)")
        .replace("*", "([^\\/]+)")
        for p in sorted(patterns)
    ]
    return re.compile("^((" + ")|(".join(prepared) + "))\\b", re.ASCII)


class CoreToolsIgnore:
    def __init__(self, text: str) -> None:
        positive: list[str] = []
        negative: list[str] = []
        for raw in text.split("\n"):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            line = line.removeprefix("!").removeprefix("/")
            (negative if negated else positive).append(line)
        self._positive = _core_regex(positive)
        self._negative = _core_regex(negative)

    def accepts(self, relative: str) -> bool:
        return bool(self._negative.match(relative)) or not self._positive.match(relative)


def core_tools_package(root: Path) -> list[str]:
    """Every file ``func azure functionapp publish`` would zip, relative to ``root``."""
    ignore_path = root / ".funcignore"
    parser = CoreToolsIgnore(ignore_path.read_text()) if ignore_path.is_file() else None
    out = []
    for path in _core_files(root):
        relative = path.relative_to(root).as_posix()
        if parser is None or parser.accepts(relative):
            out.append(relative)
    return sorted(out)


def _core_files(directory: Path) -> Iterator[Path]:
    for entry in sorted(directory.iterdir()):
        if entry.is_file() and entry.name.lower() not in _CORE_SKIPPED_FILES:
            yield entry
    for entry in sorted(directory.iterdir()):
        if entry.is_dir() and entry.name.lower() not in _CORE_SKIPPED_DIRS:
            yield from _core_files(entry)  # .NET enumerates linked folders as folders
