"""Trust policy loading and selection, rule by rule against notation-go's Validate."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from cryptography.x509 import NameAttribute
from cryptography.x509.oid import NameOID

from signer.errors import CertificateError, ConfigurationError
from signer.reference import Reference
from signer.verifier import Action, Check, TrustPolicyDocument
from signer.verifier.dn import certificate_dn, is_subset, parse_dn
from tests.verifier import pki
from tests.verifier.vectors import cases

VALID = pki.policy()


def _statement(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(VALID)
    statement: dict[str, Any] = doc["trustPolicies"][0]
    for key, value in changes.items():
        if value is None:
            statement.pop(key, None)
        else:
            statement[key] = value
    return doc


def _two(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(VALID)
    doc["trustPolicies"] = [first, second]
    return doc


BASE = VALID["trustPolicies"][0]
INVALID: dict[str, tuple[Any, str]] = {
    "not-json": ("{", "not JSON"),
    "no-version": ({"trustPolicies": VALID["trustPolicies"]}, "no version"),
    "version-2": ({**VALID, "version": "2.0"}, "unsupported version '2.0'"),
    "no-statements": ({"version": "1.0", "trustPolicies": []}, "no trust policy statements"),
    "no-name": (_statement(name=None), "missing a name"),
    "duplicate-name": (_two(BASE, {**BASE, "registryScopes": ["r.example/b"]}), "use the name"),
    "scope-in-two": (_two(BASE, {**BASE, "name": "other"}), "a scope may be in only one"),
    "two-wildcards": (
        _two({**BASE, "registryScopes": ["*"]}, {**BASE, "name": "b", "registryScopes": ["*"]}),
        "registry scope '*' is in trust policy statements",
    ),
    "wildcard-with-others": (
        _statement(registryScopes=["*", "registry.example/app"]),
        "wildcard scope '*' together with other scopes",
    ),
    "no-scopes": (_statement(registryScopes=[]), "no registry scopes"),
    "scope-with-tag": (_statement(registryScopes=["registry.example/app:v1"]), "is not valid"),
    "scope-without-repo": (_statement(registryScopes=["registry.example"]), "is not valid"),
    "scope-uppercase-repo": (_statement(registryScopes=["registry.example/App"]), "is not valid"),
    "no-level": (_statement(signatureVerification={}), "level is empty or missing"),
    "bad-level": (_statement(signatureVerification={"level": "lenient"}), "invalid level"),
    "skip-with-stores": (
        _statement(signatureVerification={"level": "skip"}),
        "skip signature verification but configures trust stores",
    ),
    "skip-customized": (
        _statement(
            signatureVerification={"level": "skip", "override": {"revocation": "log"}},
            trustStores=None,
            trustedIdentities=None,
        ),
        "level 'skip' can't be customized",
    ),
    "override-integrity": (
        _statement(signatureVerification={"level": "strict", "override": {"integrity": "log"}}),
        "'integrity', which can not be overridden",
    ),
    "override-skip-expiry": (
        _statement(signatureVerification={"level": "strict", "override": {"expiry": "skip"}}),
        "only revocation can be skipped",
    ),
    "override-unknown-type": (
        _statement(signatureVerification={"level": "strict", "override": {"age": "log"}}),
        "unsupported verification type 'age'",
    ),
    "override-unknown-action": (
        _statement(signatureVerification={"level": "strict", "override": {"expiry": "warn"}}),
        "unsupported action 'warn'",
    ),
    "bad-verify-timestamp": (
        _statement(signatureVerification={"level": "strict", "verifyTimestamp": "never"}),
        "unsupported verifyTimestamp",
    ),
    "no-stores": (_statement(trustStores=None), "missing trust stores or trusted identities"),
    "no-identities": (
        _statement(trustedIdentities=[]),
        "missing trust stores or trusted identities",
    ),
    "store-no-colon": (_statement(trustStores=["test-root"]), "malformed trust store value"),
    "store-bad-type": (_statement(trustStores=["x509:root"]), "unsupported trust store type"),
    "store-bad-name": (_statement(trustStores=["ca:../etc"]), "must match [a-zA-Z0-9_.-]+"),
    "wildcard-identity-with-others": (
        _statement(trustedIdentities=["*", "x509.subject: C=US, ST=WA, O=X"]),
        "wildcard identity '*' together with other identities",
    ),
    "identity-no-separator": (
        _statement(trustedIdentities=["C=US, ST=WA, O=X"]),
        "without a ':' separator",
    ),
    "identity-empty-value": (_statement(trustedIdentities=["x509.subject:"]), "without a value"),
    "dn-missing-st": (
        _statement(trustedIdentities=["x509.subject: C=US, O=X"]),
        "no mandatory RDN attribute for 'ST'",
    ),
    "dn-not-a-dn": (_statement(trustedIdentities=["x509.subject: hello"]), "not valid"),
    "dn-multivalued": (
        _statement(trustedIdentities=["x509.subject: C=US+ST=WA, O=X"]),
        "multi-valued RDN",
    ),
    "dn-duplicate": (
        _statement(trustedIdentities=["x509.subject: C=US, ST=WA, O=X, O=Y"]),
        "duplicate RDN attribute 'O'",
    ),
    "dn-bad-escape": (
        _statement(trustedIdentities=["x509.subject: C=US, ST=WA, O=X\\q"]),
        "invalid escape",
    ),
    "overlapping-identities": (
        _statement(
            trustedIdentities=[
                "x509.subject: C=US, ST=WA, O=X",
                "x509.subject: C=US, ST=WA, O=X, OU=Y",
            ]
        ),
        "overlapping x509 trusted identities",
    ),
}


@pytest.mark.parametrize(("doc", "message"), INVALID.values(), ids=INVALID.keys())
def test_invalid_policy_is_a_configuration_error(doc: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        TrustPolicyDocument.from_json(doc)


def test_every_vector_policy_loads() -> None:
    for vector in cases():
        doc = TrustPolicyDocument.from_json(vector.policy)
        policy = doc.policy_for(Reference.parse(vector.reference))
        assert policy.level == "strict"


def test_levels_and_overrides() -> None:
    doc = TrustPolicyDocument.from_json(
        _statement(
            signatureVerification={
                "level": "permissive",
                "override": {"revocation": "skip", "authenticity": "log"},
            }
        )
    )
    actions = doc.policies[0].actions
    assert actions[Check.INTEGRITY] == Action.ENFORCE
    assert actions[Check.AUTHENTICITY] == Action.LOG
    assert actions[Check.EXPIRY] == Action.LOG
    assert actions[Check.REVOCATION] == Action.SKIP


def test_policy_selection_exact_beats_wildcard() -> None:
    wildcard = {**BASE, "name": "global", "registryScopes": ["*"]}
    doc = TrustPolicyDocument.from_json(_two(wildcard, BASE))
    assert doc.policy_for(Reference.parse("registry.example/app:v1")).name == "test"
    assert doc.policy_for(Reference.parse("Registry.Example/app:v1")).name == "test"
    assert doc.policy_for(Reference.parse("registry.example/app/sub:v1")).name == "global"
    only_exact = TrustPolicyDocument.from_json(VALID)
    with pytest.raises(ConfigurationError, match="no applicable trust policy"):
        only_exact.policy_for(Reference.parse("registry.example/other:v1"))


def test_other_identity_prefixes_are_left_to_plugins_as_in_notation() -> None:
    doc = TrustPolicyDocument.from_json(_statement(trustedIdentities=["plugin.id: abc"]))
    assert doc.policies[0].trusted_identities[0].attributes is None


@pytest.mark.parametrize(
    ("dn", "expected"),
    [
        ("C=US, ST=WA, O=Acme", {"C": "US", "ST": "WA", "O": "Acme"}),
        ("C=US;ST=WA;O=Acme", {"C": "US", "ST": "WA", "O": "Acme"}),
        (r"C=US, ST=WA, O=Acme\, Inc.", {"C": "US", "ST": "WA", "O": "Acme, Inc."}),
        (r"C=US, ST=WA, O=\ padded\ ", {"C": "US", "ST": "WA", "O": " padded "}),
        (r"C=US, ST=WA, O=A\2bB", {"C": "US", "ST": "WA", "O": "A+B"}),
        ("C=US, ST=WA, O=#0c0441636d65", {"C": "US", "ST": "WA", "O": "Acme"}),
        ("  C = US ,ST=WA,  O=Acme  ", {"C": "US", "ST": "WA", "O": "Acme"}),
    ],
)
def test_parse_dn(dn: str, expected: dict[str, str]) -> None:
    assert parse_dn(dn) == expected


def test_certificate_dn_uses_go_attribute_names() -> None:
    extra = [
        NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Team"),
        NameAttribute(NameOID.EMAIL_ADDRESS, "a@example.com"),
    ]
    cert = pki.certificate(pki.key("p256"), pki.name("Leaf", extra=extra))
    subject = certificate_dn(cert)
    assert subject == {
        "C": "US",
        "ST": "WA",
        "L": "Seattle",
        "O": "Test Org",
        "OU": "Team",
        "1.2.840.113549.1.9.1": "a@example.com",
        "CN": "Leaf",
    }
    assert is_subset(parse_dn("C=US, ST=WA, O=Test Org, OU=Team"), subject)
    assert not is_subset(parse_dn("C=US, ST=WA, O=Test Org, OU=Other"), subject)


def test_certificate_with_two_ous_cannot_match_like_in_notation() -> None:
    extra = [
        NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "A"),
        NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "B"),
    ]
    cert = pki.certificate(pki.key("p256"), pki.name("Leaf", extra=extra))
    with pytest.raises(CertificateError, match="more than one OU"):
        certificate_dn(cert)
