"""Registry scopes: notation's grammar, checked in linear time.

Issue 9, finding 10: the scope check used notation-go's regexps, which Go's RE2 runs in
linear time and Python's backtracking engine in exponential time: one wrong letter in a
realistic 54-character scope took about 40 s, a few more letters hours.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signer.errors import ConfigurationError
from signer.verifier.trustpolicy import validate_scope
from tests.fuzzing import examples

ROOT = Path(__file__).resolve().parents[2]

# notation-go verifier/trustpolicy validateRegistryScopeFormat, verbatim. Go's MatchString
# with ^...$ (no (?m)) is Python's fullmatch. Only ever run on short inputs here.
GO_DOMAIN = re.compile(
    r"^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    r"(?:(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))+)?(?::[0-9]+)?$"
)
GO_REPOSITORY = re.compile(
    r"^[a-z0-9]+(?:(?:(?:[._]|__|[-]*)[a-z0-9]+)+)?"
    r"(?:(?:/[a-z0-9]+(?:(?:(?:[._]|__|[-]*)[a-z0-9]+)+)?)+)?$"
)


def notation_accepts(scope: str) -> bool:
    domain, sep, repository = scope.partition("/")
    return bool(
        sep
        and domain
        and repository
        and GO_DOMAIN.fullmatch(domain)
        and GO_REPOSITORY.fullmatch(repository)
    )


def accepts(scope: str) -> bool:
    try:
        validate_scope(scope)
    except ConfigurationError:
        return False
    return True


@pytest.mark.parametrize(
    ("scope", "valid"),
    [
        ("myregistry.azurecr.io/team/app", True),
        ("localhost:5000/a", True),
        ("127.0.0.1:5000/a/b-c/d__e/f.g/h---i", True),
        ("Registry.Example/app", True),
        ("registry.example/App", False),
        ("registry.example/app/", False),
        ("registry.example//app", False),
        ("registry.example/a___b", False),
        ("registry.example/a._b", False),
        ("registry.example/-a", False),
        ("-registry.example/a", False),
        ("registry-.example/a", False),
        ("registry..example/a", False),
        ("registry.example:/a", False),
        ("registry.example:50a0/a", False),
        ("registry.example:\u0665\u0660\u0660\u0660/a", False),  # non-ASCII digits
        ("registry.example\n/app", False),  # Python's $ would accept a trailing newline
        ("registry.example/app\n", False),
        ("registry.example/app:v1", False),
        ("registry.example", False),
    ],
)
def test_scope_grammar(scope: str, valid: bool) -> None:
    assert accepts(scope) is valid
    assert notation_accepts(scope) is valid


@examples(400)
@given(st.text(alphabet="aZ09.-_/:\n", max_size=14))
def test_scope_check_agrees_with_notation_regexps(scope: str) -> None:
    assert accepts(scope) is notation_accepts(scope), scope


HOSTILE = [
    # realistic, one wrong letter at the end: hours with the old check (2x per letter)
    "myregistry.azurecr.io/platform/paymentsgatewayservicecheckoutv2X",
    "myregistry.azurecr.io/" + "a" * 60 + "A",
    "myregistry.azurecr.io/" + "a-" * 5000 + "A",
    "a" * 20000 + "-/app",
    "registry.example/" + "a" * 50000 + "/" + "b_" * 20000,
]


def test_near_misses_are_checked_in_linear_time() -> None:
    """Inputs the old check needed hours (or longer) for; a generous bound, in a subprocess.

    The bound only separates "milliseconds" from "does not finish": the old regexps took
    34 s for 'team/' + 24 letters + 'A' here and twice as long per added letter.
    """
    program = (
        "import sys\n"
        "from signer.errors import ConfigurationError\n"
        "from signer.verifier.trustpolicy import validate_scope\n"
        "for scope in sys.argv[1:]:\n"
        "    try:\n"
        "        validate_scope(scope)\n"
        "    except ConfigurationError:\n"
        "        print('rejected')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, *HOSTILE[:2]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["rejected"] * 2
    for scope in HOSTILE[2:]:  # long ones in process: linear work, fast anyway
        assert not accepts(scope)
