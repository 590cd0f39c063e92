"""notation's trust policy document (``trustpolicy.json``, version 1.0).

Validation follows notation-go verifier/trustpolicy (Document.Validate): a policy
that notation refuses to load is refused here too, with a message naming the
statement and the rule, so a policy can move between `notation verify` and this
verifier unchanged. Spec: specs/trust-store-trust-policy.md.
"""

from __future__ import annotations

import enum
import json
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from signer.errors import ConfigurationError
from signer.reference import Reference
from signer.untrusted import untrusted
from signer.verifier.dn import parse_dn

WILDCARD = "*"
X509_SUBJECT = "x509.subject"
SUPPORTED_VERSIONS = ("1.0",)


class Check(enum.StrEnum):
    """The validations of a signature, in the order notation performs them."""

    INTEGRITY = "integrity"
    AUTHENTICITY = "authenticity"
    EXPIRY = "expiry"
    AUTHENTIC_TIMESTAMP = "authenticTimestamp"
    REVOCATION = "revocation"


class Action(enum.StrEnum):
    ENFORCE = "enforce"
    LOG = "log"
    SKIP = "skip"


class StoreType(enum.StrEnum):
    CA = "ca"
    SIGNING_AUTHORITY = "signingAuthority"
    TSA = "tsa"


_E, _L, _S = Action.ENFORCE, Action.LOG, Action.SKIP
_C = Check
LEVELS: Mapping[str, Mapping[Check, Action]] = MappingProxyType(
    {
        "strict": {
            _C.INTEGRITY: _E,
            _C.AUTHENTICITY: _E,
            _C.AUTHENTIC_TIMESTAMP: _E,
            _C.EXPIRY: _E,
            _C.REVOCATION: _E,
        },
        "permissive": {
            _C.INTEGRITY: _E,
            _C.AUTHENTICITY: _E,
            _C.AUTHENTIC_TIMESTAMP: _L,
            _C.EXPIRY: _L,
            _C.REVOCATION: _L,
        },
        "audit": {
            _C.INTEGRITY: _E,
            _C.AUTHENTICITY: _L,
            _C.AUTHENTIC_TIMESTAMP: _L,
            _C.EXPIRY: _L,
            _C.REVOCATION: _L,
        },
        "skip": {check: _S for check in Check},
    }
)
VERIFY_TIMESTAMP_OPTIONS = ("always", "afterCertExpiry")

# notation-go validateRegistryScopeFormat accepts what distribution's reference regexps
# match (Go's RE2 runs them in linear time). Python's backtracking engine needs seconds
# to hours on a near miss with nested quantifiers, so the same grammar is checked here
# by hand: a domain of dot-separated labels (alphanumerics and inner '-') with an
# optional numeric port, and a path of '/'-separated components, each lowercase
# alphanumeric runs joined by '.', '_', '__' or any run of '-'.
_LABEL_CHARS = frozenset(string.ascii_letters + string.digits + "-")
_COMPONENT_CHARS = frozenset(string.ascii_lowercase + string.digits + "._-")
_SEPARATORS = frozenset("._-")
_SEPARATOR_RUN_RE = re.compile(r"[._-]+")  # one quantifier: linear


def _is_domain(domain: str) -> bool:
    host, colon, port = domain.partition(":")
    if colon and not (port and set(port) <= frozenset(string.digits)):
        return False
    return all(
        label and set(label) <= _LABEL_CHARS and label[0] != "-" and label[-1] != "-"
        for label in host.split(".")
    )


def _is_path_component(component: str) -> bool:
    if not component or not set(component) <= _COMPONENT_CHARS:
        return False
    if component[0] in _SEPARATORS or component[-1] in _SEPARATORS:
        return False
    return all(
        run in (".", "_", "__") or set(run) == {"-"} for run in _SEPARATOR_RUN_RE.findall(component)
    )


# Go's $ (notation's regexp) ends the text; Python's would let a trailing newline through
_STORE_NAME_RE = re.compile(r"[a-zA-Z0-9_.-]+\Z")


@dataclass(frozen=True)
class TrustedIdentity:
    raw: str
    attributes: Mapping[str, str] | None  # None: not an x509.subject identity


@dataclass(frozen=True)
class TrustPolicy:
    """One statement of the document, validated."""

    name: str
    registry_scopes: tuple[str, ...]
    level: str
    actions: Mapping[Check, Action]
    trust_stores: tuple[tuple[StoreType, str], ...]
    trusted_identities: tuple[TrustedIdentity, ...]
    verify_timestamp: str = "always"
    override: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_skip(self) -> bool:
        return self.level == "skip"

    @property
    def trusts_any_identity(self) -> bool:
        return any(i.raw == WILDCARD for i in self.trusted_identities)

    def stores_of(self, store_type: StoreType) -> tuple[str, ...]:
        """Named stores of one type, first mention first, each once."""
        names = [name for kind, name in self.trust_stores if kind == store_type]
        return tuple(dict.fromkeys(names))


def _fail(statement: str, message: str) -> ConfigurationError:
    return ConfigurationError(f"trust policy statement {statement!r} {message}")


def validate_scope(scope: str) -> str:
    domain, sep, repository = scope.partition("/")
    if (
        not sep
        or not _is_domain(domain)
        or not all(_is_path_component(c) for c in repository.split("/"))
    ):
        raise ConfigurationError(
            f"registry scope {scope[:200]!r} is not valid: use a fully qualified repository "
            "without scheme, tag or digest (e.g. myregistry.azurecr.io/team/app), or '*'"
        )
    return f"{domain.lower()}/{repository}"


def _actions(name: str, verification: Any) -> tuple[str, Mapping[Check, Action], Mapping[str, str]]:
    if not isinstance(verification, dict):
        raise _fail(name, "has no signatureVerification object")
    level = verification.get("level")
    if not level:
        raise _fail(name, "has invalid signatureVerification: the level is empty or missing")
    if not isinstance(level, str) or level not in LEVELS:
        raise _fail(
            name,
            f"has invalid signatureVerification: invalid level {level!r} "
            f"(use one of {', '.join(LEVELS)})",
        )
    override = verification.get("override")
    if override is None:
        override = {}
    if not isinstance(override, dict):
        raise _fail(name, "has invalid signatureVerification: override must be an object")
    actions = dict(LEVELS[level])
    if override and level == "skip":
        raise _fail(name, "has invalid signatureVerification: level 'skip' can't be customized")
    for key, value in override.items():
        if key not in {c.value for c in Check}:
            raise _fail(name, f"overrides unsupported verification type {key!r}")
        if not isinstance(value, str) or value not in {a.value for a in Action}:
            raise _fail(name, f"overrides {key!r} with unsupported action {value!r}")
        if key == Check.INTEGRITY:
            raise _fail(name, "overrides 'integrity', which can not be overridden")
        if key != Check.REVOCATION and value == Action.SKIP:
            raise _fail(name, f"skips {key!r}: only revocation can be skipped")
        actions[Check(key)] = Action(value)
    return level, MappingProxyType(actions), MappingProxyType(dict(override))


def _trust_stores(name: str, stores: list[Any]) -> tuple[tuple[StoreType, str], ...]:
    out = []
    for store in stores:
        if not isinstance(store, str):
            raise _fail(name, f"has a trust store value that is not a string: {store!r}")
        kind, sep, store_name = store.partition(":")
        if not sep:
            raise _fail(
                name, f"has malformed trust store value {store!r}: use <type>:<name>, e.g. ca:acme"
            )
        if kind not in {t.value for t in StoreType}:
            raise _fail(name, f"uses unsupported trust store type {kind!r} in {store!r}")
        if not _STORE_NAME_RE.match(store_name):
            raise _fail(
                name, f"uses trust store name {store_name!r}: it must match [a-zA-Z0-9_.-]+"
            )
        out.append((StoreType(kind), store_name))
    return tuple(out)


def _identities(name: str, identities: list[Any]) -> tuple[TrustedIdentity, ...]:
    if len(identities) > 1 and WILDCARD in identities:
        raise _fail(name, "uses the wildcard identity '*' together with other identities")
    out: list[TrustedIdentity] = []
    for identity in identities:
        if not isinstance(identity, str) or not identity:
            raise _fail(name, "has an empty or non-string trusted identity")
        if identity == WILDCARD:
            out.append(TrustedIdentity(identity, None))
            continue
        prefix, sep, value = identity.partition(":")
        if not sep:
            raise _fail(name, f"has trusted identity {identity!r} without a ':' separator")
        if prefix != X509_SUBJECT:
            # notation leaves other prefixes to verification plugins
            out.append(TrustedIdentity(identity, None))
            continue
        if not value:
            raise _fail(name, f"has trusted identity {identity!r} without a value")
        try:
            attributes = parse_dn(value)
        except ConfigurationError as exc:
            raise _fail(name, f"has an invalid trusted identity: {exc}") from None
        out.append(TrustedIdentity(identity, MappingProxyType(attributes)))
    x509_ids = [i for i in out if i.attributes is not None]
    for i, first in enumerate(x509_ids):
        for j, second in enumerate(x509_ids):
            assert first.attributes is not None and second.attributes is not None
            if i != j and all(second.attributes.get(k) == v for k, v in first.attributes.items()):
                raise _fail(
                    name,
                    f"has overlapping x509 trusted identities: {first.raw!r} overlaps "
                    f"with {second.raw!r}",
                )
    return tuple(out)


def _string_list(name: str, value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(name, f"has {what} that is not an array")
    return value


def _statement(raw: Any) -> TrustPolicy:
    if not isinstance(raw, dict):
        raise ConfigurationError("a trust policy statement is not a JSON object")
    name = raw.get("name")
    if not name or not isinstance(name, str):
        raise ConfigurationError("a trust policy statement is missing a name")
    verification = raw.get("signatureVerification")
    level, actions, override = _actions(name, verification)
    assert isinstance(verification, dict)  # _actions checked it
    verify_timestamp = verification.get("verifyTimestamp")
    if verify_timestamp in (None, ""):
        verify_timestamp = "always"
    if not isinstance(verify_timestamp, str) or verify_timestamp not in VERIFY_TIMESTAMP_OPTIONS:
        raise _fail(name, f"has unsupported verifyTimestamp {verify_timestamp!r}")
    stores = _string_list(name, raw.get("trustStores"), "trustStores")
    identities = _string_list(name, raw.get("trustedIdentities"), "trustedIdentities")
    if level == "skip":
        if stores or identities:
            raise _fail(
                name,
                "is set to skip signature verification but configures trust stores and/or "
                "trusted identities; remove them to skip verification",
            )
    elif not stores or not identities:
        raise _fail(name, "is missing trust stores or trusted identities; both are required")
    scopes = _string_list(name, raw.get("registryScopes"), "registryScopes")
    if not scopes:
        raise _fail(name, "has no registry scopes; give at least one")
    if not all(isinstance(s, str) for s in scopes):
        raise _fail(name, "has a registry scope that is not a string")
    if len(scopes) > 1 and WILDCARD in scopes:
        raise _fail(name, "uses the wildcard scope '*' together with other scopes")
    normalized = tuple(s if s == WILDCARD else validate_scope(s) for s in scopes)
    return TrustPolicy(
        name=name,
        registry_scopes=normalized,
        level=level,
        actions=actions,
        trust_stores=_trust_stores(name, stores),
        trusted_identities=_identities(name, identities),
        verify_timestamp=verify_timestamp,
        override=override,
    )


@dataclass(frozen=True)
class TrustPolicyDocument:
    version: str
    policies: tuple[TrustPolicy, ...]

    @classmethod
    def from_json(cls, doc: Mapping[str, Any] | str | bytes) -> TrustPolicyDocument:
        """Validate a parsed or raw ``trustpolicy.json``; ConfigurationError on any rule."""
        with untrusted("malformed trust policy", ConfigurationError):
            return cls._from_json(doc)

    @classmethod
    def _from_json(cls, doc: Mapping[str, Any] | str | bytes) -> TrustPolicyDocument:
        if isinstance(doc, bytes):
            try:  # UTF-8 as notation reads it: a BOM or UTF-16 is not JSON there
                doc = doc.decode("utf-8")
            except UnicodeDecodeError:
                raise ConfigurationError("malformed trust policy: not UTF-8 JSON") from None
        if isinstance(doc, str):
            with untrusted("malformed trust policy: not JSON", ConfigurationError):
                doc = json.loads(doc)
        if not isinstance(doc, Mapping):
            raise ConfigurationError("malformed trust policy: not a JSON object")
        version = doc.get("version")
        if not version:
            raise ConfigurationError('trust policy document has no version; use "1.0"')
        if not isinstance(version, str) or version not in SUPPORTED_VERSIONS:
            raise ConfigurationError(f"trust policy document uses unsupported version {version!r}")
        raw_policies = doc.get("trustPolicies")
        if not isinstance(raw_policies, list) or not raw_policies:
            raise ConfigurationError("trust policy document has no trust policy statements")
        policies = tuple(_statement(p) for p in raw_policies)
        names: set[str] = set()
        scopes: dict[str, str] = {}
        for policy in policies:
            if policy.name in names:
                raise ConfigurationError(
                    f"multiple trust policy statements use the name {policy.name!r}; "
                    "names must be unique"
                )
            names.add(policy.name)
            for scope in policy.registry_scopes:
                if scope in scopes:
                    raise ConfigurationError(
                        f"registry scope {scope!r} is in trust policy statements "
                        f"{scopes[scope]!r} and {policy.name!r}; a scope may be in only one"
                    )
                scopes[scope] = policy.name
        return cls(version=version, policies=policies)

    @classmethod
    def load(cls, path: str | Path) -> TrustPolicyDocument:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"cannot read trust policy {path}: {exc.strerror}") from None
        try:
            return cls.from_json(data)
        except ConfigurationError as exc:
            raise ConfigurationError(f"trust policy {path}: {exc}") from None

    def policy_for(self, reference: Reference) -> TrustPolicy:
        """The statement that applies: an exact scope beats '*'; none is an error."""
        scope = f"{reference.registry}/{reference.repository}"
        wildcard = None
        for policy in self.policies:
            if scope in policy.registry_scopes:
                return policy
            if WILDCARD in policy.registry_scopes:
                wildcard = policy
        if wildcard is not None:
            return wildcard
        raise ConfigurationError(f"artifact {reference} has no applicable trust policy")
