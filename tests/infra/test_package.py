"""The deployment package: exactly what the app needs, nothing a developer's machine holds.

The package is built with the rules azd and Core Tools apply (``tests/infra/packaging.py``,
ported from their source) over two trees: this worktree as it is, and a copy of the
tracked files with everything a working machine accumulates planted around them (the
development private key, ``.git``, ``node_modules``, virtual environments, caches, azd's
own environment folder). The ports are first checked against their projects' own test
vectors, and the package is then proven sufficient by importing the function app from it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.infra.packaging import (
    FNM_PATHNAME,
    CoreToolsIgnore,
    GoGitIgnore,
    UnsupportedPatternError,
    azd_package,
    core_tools_package,
    fnmatch,
)

ROOT = Path(__file__).resolve().parents[2]

TOP_LEVEL = [
    *("constraints.txt", "function_app.py", "host.json", "requirements.txt"),
    *("shared", "signer"),
]

# What a developer's machine holds next to the sources; none of it may ship.
PLANTED: dict[str, str] = {
    ".dev/signing/key.pem": "-----BEGIN PRIVATE KEY-----\nnot a real key\n",
    ".dev/signing/chain.pem": "chain",
    ".git/HEAD": "ref: refs/heads/main\n",
    ".git/config": "[core]\n",
    "node_modules/azurite/package.json": "{}",
    ".venv/pyvenv.cfg": "home = /usr/bin\n",
    ".venv/lib/python3.11/site-packages/x.py": "",
    "acr-notary-signer_env/pyvenv.cfg": "home = /usr/bin\n",  # azd restore's virtual env
    ".venv-checkov/pyvenv.cfg": "home = /usr/bin\n",
    "signer/__pycache__/envelope.cpython-311.pyc": "\x00",
    "signer/registry/__pycache__/client.cpython-311.pyc": "\x00",
    "shared/__pycache__/handlers.cpython-311.pyc": "\x00",
    "__pycache__/function_app.cpython-311.pyc": "\x00",
    ".pytest_cache/v/cache/nodeids": "[]",
    ".mypy_cache/3.11/signer/envelope.data.json": "{}",
    ".ruff_cache/0.17.6/cache": "",
    ".hypothesis/examples/x": "",
    "local.settings.json": '{"Values": {"SIGNER_REGISTRY_PASSWORD": "secret"}}',
    ".azure/signer-prod/.env": 'AZURE_ENV_NAME="signer-prod"\n',
    ".azure/config.json": "{}",
    ".env": "SIGNER_FUNCTION_KEY=secret\n",
    "__azurite_db_blob__.json": "{}",
    "bench/results/run.json": "{}",
    "signer/notes.txt": "a stray file inside a package",
    "shared/.env": "SIGNER_FUNCTION_KEY=secret\n",
    "certs/leaf-key.pem": "-----BEGIN PRIVATE KEY-----\n",
    "certs/ca-bundle.pem": "-----BEGIN CERTIFICATE-----\n",
}
PLANTED_THAT_SHIPS = {"certs/ca-bundle.pem"}  # the documented CA bundle location


def _tracked() -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"], check=True, capture_output=True
    ).stdout.decode()
    return sorted(p for p in out.split("\0") if p and (ROOT / p).is_file())


def _runtime_files(tracked: list[str]) -> set[str]:
    """The app's own files, decided from what they are rather than from any ignore rule."""
    top = {"function_app.py", "host.json", "requirements.txt", "constraints.txt"}
    sources = {p for p in tracked if p.split("/")[0] in ("signer", "shared") and p.endswith(".py")}
    return (top & set(tracked)) | sources


@pytest.fixture(scope="module")
def workstation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tracked files, plus everything a working machine accumulates around them."""
    root = tmp_path_factory.mktemp("project")
    for rel in _tracked():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    for rel, content in PLANTED.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    # As in the real worktrees: .venv and node_modules are links to shared folders.
    shared = tmp_path_factory.mktemp("shared-env")
    (shared / "node_modules" / "left-pad").mkdir(parents=True)
    (shared / "node_modules" / "left-pad" / "index.js").write_text("")
    (root / "node_modules_link").symlink_to(shared / "node_modules", target_is_directory=True)
    return root


def _leaks(files: list[str]) -> list[str]:
    """Files that must never be deployed: keys, VCS data, dependencies, tests, caches, envs."""
    bad = []
    for path in files:
        parts = path.split("/")
        name = parts[-1]
        if (
            (name.endswith((".pem", ".pfx", ".p12", ".key")) and path not in PLANTED_THAT_SHIPS)
            or any(
                part in {".git", "node_modules", "node_modules_link", "tests", "__pycache__"}
                or part.startswith((".venv", ".azure", ".dev", ".pytest", ".mypy", ".ruff"))
                or part.endswith("_env")
                for part in parts
            )
            or name in {"local.settings.json", ".env"}
            or name.endswith(".pyc")
        ):
            bad.append(path)
    return bad


def _top_level(files: list[str]) -> list[str]:
    return sorted({f.split("/")[0] for f in files})


# ---------------------------------------------------------------------------------
# The ports agree with the projects' own test vectors
# ---------------------------------------------------------------------------------

# danwakefield/fnmatch fnmatch_test.go (TestMatch, TestWildcard, TestWildcardSlash).
FNMATCH_VECTORS = [
    ("", "", 0, True),
    ("*", "", 0, True),
    ("*", "foo", 0, True),
    ("**", "foo.txt", 0, True),
    ("*.*", "foo.txt", 0, True),
    ("foo*.txt", "foobar.txt", 0, True),
    ("*", ".foo", 0, True),
    ("*", "foo/bar", 0, True),
    ("*", "/foo", 0, True),
    ("*", "foo/bar", FNM_PATHNAME, False),
    ("*", "/", FNM_PATHNAME, False),
    ("*", "foo/", FNM_PATHNAME, False),
    ("*.[oa]", "lib.a", 0, True),
    ("*.[oa]", "lib.c", 0, False),
    ("[!a]", "b", 0, True),
    ("[!a]", "a", 0, False),
]


@pytest.mark.parametrize(("pattern", "text", "flags", "want"), FNMATCH_VECTORS)
def test_fnmatch_port(pattern: str, text: str, flags: int, want: bool) -> None:
    assert fnmatch(pattern, text, flags) is want


# denormal/go-gitignore defn_test.go _GITMATCH / _GITMATCHES (minus the escaped pattern).
GO_GITMATCH = """
*.[oa]
*.html
*.min.js
!foo*.html
foo-excl.html
vmlinux*
log/*.log
!/log/foo.log
**/logdir/log
**/foodir/bar
exclude/**
!findthis*
**/hide/**
subdir/subdir2/
/rootsubdir/
dirpattern/
README.md
!arch/foo/kernel/vmlinux*
!htmldoc/*.html
git-sample-3/*
!git-sample-3/foo
git-sample-3/foo/*
!git-sample-3/foo/bar
Documentation/*.pdf
Documentation/**/p*.pdf
"""
GO_GITMATCHES = [
    ("arch/foo/kernel/vmlinux.lds.S", "!arch/foo/kernel/vmlinux*", False),
    ("arch/foo/vmlinux.lds.S", "vmlinux*", True),
    ("bar/testfile", "", False),
    ("my/other/path/to/dirpattern", "", False),
    ("my/path/to/dirpattern/", "dirpattern/", True),
    ("my/path/to/dirpattern/some_file.txt", "", False),
    ("Documentation/foo-excl.html", "foo-excl.html", True),
    ("Documentation/foo.html", "!foo*.html", False),
    ("exclude/", "exclude/**", True),
    ("exclude/dir1/dir2/dir3/testfile", "exclude/**", True),
    ("file.o", "*.[oa]", True),
    ("foo/exclude/some_file.txt", "", False),
    ("foodir/bar/", "**/foodir/bar", True),
    ("foodir/bar/testfile", "", False),
    ("git-sample-3/foo/", "!git-sample-3/foo", False),
    ("git-sample-3/foo/bar/", "!git-sample-3/foo/bar", False),
    ("git-sample-3/foo/test/", "git-sample-3/foo/*", True),
    ("git-sample-3/test/", "git-sample-3/*", True),
    ("htmldoc/docs.html", "!htmldoc/*.html", False),
    ("htmldoc/jslib.min.js", "*.min.js", True),
    ("log/foo.log", "!/log/foo.log", False),
    ("log/test.log", "log/*.log", True),
    ("rootsubdir/", "/rootsubdir/", True),
    ("rootsubdir/foo", "", False),
    ("src/findthis.o", "!findthis*", False),
    ("subdir/hide/foo", "**/hide/**", True),
    ("subdir/logdir/log/", "**/logdir/log", True),
    ("subdir/logdir/log/findthis.log", "!findthis*", False),
    ("subdir/rootsubdir/", "", False),
    ("subdir/subdir2/", "subdir/subdir2/", True),
    ("my-path/also/README.md", "README.md", True),
    ("Documentation/ppc/ppc.pdf", "Documentation/**/p*.pdf", True),
    ("tools/perf/Documentation/perf.pdf", "", False),
]


@pytest.mark.parametrize(("path", "pattern", "ignored"), GO_GITMATCHES)
def test_go_gitignore_port(path: str, pattern: str, ignored: bool) -> None:
    found = GoGitIgnore(GO_GITMATCH).match(path.rstrip("/"), path.endswith("/"))
    assert (found.text if found else "") == pattern
    assert (found is not None and not found.negated) is ignored


# Azure-functions-core-tools test/Cli/Func.UnitTests/ParserTests/GitIgnoreParserTests.cs.
CORE_GITIGNORE = """# This is a comment in a .gitignore file!
node_modules
*.log
nonexistent
!/nonexistent/foo
/baz
foo/*.wat
/test1
test2
othernonexistent/**/what
!/othernonexistent/**/what/foo
*.swp
"""
CORE_VECTORS = [
    ("test/index.js", True),
    ("wat/test/index.js", True),
    ("/othernonexistent/blah/adsasd/whatads", True),
    ("/othernonexistent/blah/adsasd/what/foo", True),
    ("test2", False),
    ("test1File.wat", True),
    ("test.swp", False),
    ("node_modules/what.js", False),
    ("foo/bar.wat", False),
    ("othernonexistent/blah/what", False),
    ("nonexistent", False),
    ("nonexistent/bar", False),
    ("nonexistent/foo", True),
    ("nonexistent/foo/wat", True),
    ("test1", False),
]


@pytest.mark.parametrize(("path", "accepted"), CORE_VECTORS)
def test_core_tools_port(path: str, accepted: bool) -> None:
    assert CoreToolsIgnore(CORE_GITIGNORE).accepts(path) is accepted


def test_funcignore_uses_only_what_the_ports_support() -> None:
    text = (ROOT / ".funcignore").read_text()
    GoGitIgnore(text)  # raises UnsupportedPatternError on spaces, escapes, CR
    assert not text.startswith("\ufeff")
    for line in text.splitlines():
        assert line == line.strip(), f"surrounding whitespace in {line!r}"
    with pytest.raises(UnsupportedPatternError):
        GoGitIgnore("a pattern with spaces")


# ---------------------------------------------------------------------------------
# The package azd builds
# ---------------------------------------------------------------------------------


def test_azd_package_of_a_working_machine(workstation: Path) -> None:
    files = azd_package(workstation)
    assert _top_level(files) == sorted(["certs", *TOP_LEVEL])
    assert not _leaks(files)
    assert set(files) == _runtime_files(_tracked()) | PLANTED_THAT_SHIPS


def test_azd_package_of_this_worktree() -> None:
    """The real tree: .git file, linked .venv and node_modules, whatever caches exist."""
    files = azd_package(ROOT)
    assert _top_level(files) == TOP_LEVEL
    assert not _leaks(files)
    assert _runtime_files(_tracked()) <= set(files)


def test_without_funcignore_azd_ships_everything(workstation: Path, tmp_path: Path) -> None:
    """What the issue found: azd's defaults keep the key, .git, node_modules and tests."""
    copy = tmp_path / "project"
    shutil.copytree(workstation, copy, symlinks=True)
    (copy / ".funcignore").unlink()
    leaks = _leaks(azd_package(copy))
    for expected in (".dev/signing/key.pem", ".git/config", "node_modules/azurite/package.json"):
        assert expected in leaks
    assert any(p.startswith("tests/") for p in leaks)
    assert any(p.startswith("node_modules_link/") for p in leaks)  # links are followed
    assert not any(p.startswith(".venv/") for p in leaks)  # the one default it has


def test_dropping_the_catch_all_leaks(workstation: Path, tmp_path: Path) -> None:
    copy = tmp_path / "project"
    shutil.copytree(workstation, copy, symlinks=True)
    text = (copy / ".funcignore").read_text()
    (copy / ".funcignore").write_text(text.replace("\n*\n", "\n", 1))
    assert ".dev/signing/key.pem" in _leaks(azd_package(copy))


def test_package_is_enough_to_load_the_app(workstation: Path, tmp_path: Path) -> None:
    """Unzip what azd would upload and index the functions from it alone."""
    package = tmp_path / "app.zip"
    with zipfile.ZipFile(package, "w") as archive:
        for rel in azd_package(workstation):
            archive.write(workstation / rel, rel)
    site = tmp_path / "wwwroot"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(site)
    probe = (
        "import json, function_app; "
        "print(json.dumps(sorted(f.get_function_name() for f in function_app.app.get_functions())))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "SIGNER_"))}
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, '.'); {probe}"],
        cwd=site,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["on_image_pushed", "sign", "status"]


# ---------------------------------------------------------------------------------
# The package Core Tools builds (`func azure functionapp publish`)
# ---------------------------------------------------------------------------------


def test_core_tools_package_of_a_working_machine(workstation: Path) -> None:
    files = core_tools_package(workstation)
    assert not _leaks(files)
    assert set(files) == _runtime_files(_tracked()) | PLANTED_THAT_SHIPS


def test_without_funcignore_core_tools_ships_everything(workstation: Path, tmp_path: Path) -> None:
    copy = tmp_path / "project"
    shutil.copytree(workstation, copy, symlinks=True)
    (copy / ".funcignore").unlink()
    leaks = _leaks(core_tools_package(copy))
    assert ".dev/signing/key.pem" in leaks
    assert ".git/config" not in leaks  # Core Tools always skips .git
    assert any(p.startswith("tests/") for p in leaks)


# ---------------------------------------------------------------------------------
# The remote build installs the tested pins
# ---------------------------------------------------------------------------------


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for raw in (ROOT / "constraints.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt must pin exact versions: {line!r}"
            pins[canonicalize_name(name)] = version
    return pins


def _requirements() -> list[Requirement]:
    reqs = []
    for raw in (ROOT / "requirements.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            reqs.append(Requirement(line))
    return reqs


def test_requirements_apply_the_constraints() -> None:
    """Oryx runs `pip install -r requirements.txt`; pip reads a nested -c relative to it."""
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip().startswith("-")
    ]
    assert lines == ["-c constraints.txt"]


def test_every_runtime_distribution_is_pinned() -> None:
    """The runtime requirements and everything they pull in, as installed here, are pinned."""
    pins = _pins()
    seen: set[str] = set()
    todo = [r.name for r in _requirements()]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        dist = metadata.distribution(name)
        assert name in pins, f"{name} is installed for the app but not pinned in constraints.txt"
        assert dist.version == pins[name], f"{name}: installed {dist.version}, pinned {pins[name]}"
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    assert {"azure-core", "cryptography", "msal", "cbor2"} <= seen


def _pip_dry_run(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--dry-run", "--no-index"),
            *("--disable-pip-version-check", "-r", "requirements.txt"),
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )


def test_pip_reads_the_pins_from_the_package(workstation: Path, tmp_path: Path) -> None:
    """From the package alone, pip resolves to the pins, and a changed pin is honoured."""
    site = tmp_path / "wwwroot"
    for rel in azd_package(workstation):
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(workstation / rel, site / rel)
    assert _pip_dry_run(site).returncode == 0
    constraints = site / "constraints.txt"
    # A pin inside requirements.txt's range but not installed here: only the pin can
    # make pip look for it.
    constraints.write_text(constraints.read_text().replace("requests==", "requests==2.32.0\n#"))
    broken = _pip_dry_run(site)
    assert broken.returncode != 0
    assert "requested (constraint) requests==2.32.0" in broken.stdout + broken.stderr
