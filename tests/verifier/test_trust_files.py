"""Malformed trust policy and trust store files: a configuration error naming the file and
the rule (exit 2 from the CLI), never a traceback.

Issue 9, finding 13: wrong JSON types, deep nesting and certificates with bad names,
unknown algorithms or versions crashed ``verify``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signer.cli import main
from signer.errors import ConfigurationError
from signer.verifier import TrustPolicyDocument, TrustStore
from signer.verifier.trustpolicy import StoreType
from tests.fuzzing import examples
from tests.servers.images import ImagePusher
from tests.servers.oci_registry import OciRegistry
from tests.verifier import hostile, pki

VALID = pki.policy()
KEY = hostile.signing_key()
ROOT = pki.certificate(KEY, pki.name("Trust File Root"), ca=True)
NAME = b"Trust File Root"


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(VALID)
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


S = ("trustPolicies", 0)
POLICIES: dict[str, tuple[bytes, str]] = {
    "version-list": (json.dumps(_with(("version",), ["1.0"])).encode(), "unsupported version"),
    "version-number": (json.dumps(_with(("version",), 1.0)).encode(), "unsupported version"),
    "level-list": (
        json.dumps(_with((*S, "signatureVerification", "level"), ["strict"])).encode(),
        "invalid level",
    ),
    "level-object": (
        json.dumps(_with((*S, "signatureVerification", "level"), {"a": 1})).encode(),
        "invalid level",
    ),
    "override-value-list": (
        json.dumps(_with((*S, "signatureVerification", "override"), {"expiry": ["log"]})).encode(),
        "unsupported action",
    ),
    "verify-timestamp-object": (
        json.dumps(_with((*S, "signatureVerification", "verifyTimestamp"), {})).encode(),
        "unsupported verifyTimestamp",
    ),
    "scope-number": (json.dumps(_with((*S, "registryScopes"), [1])).encode(), "not a string"),
    "scope-object": (
        json.dumps(_with((*S, "registryScopes"), [{"a": "b"}])).encode(),
        "not a string",
    ),
    "statements-object": (
        json.dumps(_with(("trustPolicies",), {"a": 1})).encode(),
        "no trust policy statements",
    ),
    "nested-100000-deep": (
        b'{"version": "1.0", "trustPolicies": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "nested too deeply",
    ),
    # Go's $ (notation's pattern) does not match before a final newline; Python's does
    "store-name-newline": (
        json.dumps(_with((*S, "trustStores"), ["ca:acme\n"])).encode(),
        "uses trust store name",
    ),
    "utf8-bom": (b"\xef\xbb\xbf" + json.dumps(VALID).encode(), "not JSON"),
    "utf16": (json.dumps(VALID).encode("utf-16"), "not UTF-8 JSON"),
    "not-utf8": (b'{"version": "\xff"}', "not UTF-8 JSON"),
}


@pytest.mark.parametrize(("content", "rule"), POLICIES.values(), ids=POLICIES.keys())
def test_malformed_policy_file_names_the_file_and_the_rule(
    tmp_path: Path, content: bytes, rule: str
) -> None:
    path = tmp_path / "trustpolicy.json"
    path.write_bytes(content)
    with pytest.raises(ConfigurationError) as raised:
        TrustPolicyDocument.load(path)
    assert str(raised.value).startswith(f"trust policy {path}: ")
    assert rule in str(raised.value)


def _resigned(*replacements: tuple[bytes, bytes]) -> bytes:
    return hostile.resign(ROOT, KEY, replacements)


def _pem(der: bytes) -> bytes:
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n".encode()


STORE_FILES: dict[str, tuple[bytes, str]] = {
    "name-invalid-utf8": (_pem(_resigned((NAME, b"\xff\xfe" + NAME[2:]))), "cannot parse"),
    "version-5": (_pem(_resigned((hostile.VERSION_3, bytes.fromhex("a003020105")))), "version"),
    "unknown-key-algorithm": (
        _pem(_resigned((hostile.OID_RSA_KEY, hostile.OID_UNKNOWN_KEY))),
        "Unknown key type",
    ),
    "der-name-invalid-utf8": (_resigned((NAME, b"\xff\xfe" + NAME[2:])), "cannot parse"),
    "der-version-5": (_resigned((hostile.VERSION_3, bytes.fromhex("a003020105"))), "version"),
    "not-a-certificate": (b"hello", "PEM or DER certificates"),
    "pem-garbage": (b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n", "PEM"),
    "empty": (b"", "PEM or DER certificates"),
}


def _store(tmp_path: Path, content: bytes) -> Path:
    store = tmp_path / "store"
    path = store / "x509" / "ca" / "test-root"
    path.mkdir(parents=True)
    (path / "root.pem").write_bytes(content)
    return store


@pytest.mark.parametrize(("content", "rule"), STORE_FILES.values(), ids=STORE_FILES.keys())
def test_malformed_trust_store_file_names_the_file_and_the_rule(
    tmp_path: Path, content: bytes, rule: str
) -> None:
    store = _store(tmp_path, content)
    with pytest.raises(ConfigurationError) as raised:
        TrustStore(store).certificates(StoreType.CA, "test-root")
    assert str(store / "x509" / "ca" / "test-root" / "root.pem") in str(raised.value)
    assert rule in str(raised.value)


def test_a_store_name_too_long_for_the_file_system_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigurationError, match="trust store ca:aaaa"):
        TrustStore(tmp_path).certificates(StoreType.CA, "a" * 5000)


def test_a_store_name_with_a_trailing_newline_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "x509" / "ca" / "acme\n").mkdir(parents=True)
    with pytest.raises(ConfigurationError, match="must match"):
        TrustStore(tmp_path).certificates(StoreType.CA, "acme\n")


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def signed(oci_registry: OciRegistry, tmp_path: Path) -> str:
    """An image signed by a leaf of ROOT, pushed to the in-memory registry."""
    ImagePusher(oci_registry.url).push_image("app", "v1")
    leaf_key = hostile.signing_key("p256")
    leaf = pki.certificate(leaf_key, pki.name("Leaf"), issuer_key=KEY, issuer=ROOT.subject)
    key_file, chain_file = tmp_path / "key.pem", tmp_path / "chain.pem"
    key_file.write_bytes(pki.private_pem(leaf_key))
    chain_file.write_bytes(pki.pem(leaf, ROOT))
    ref = f"{oci_registry.host}/app:v1"
    code, _, err = _run(
        "sign", ref, "--key", str(key_file), "--cert", str(chain_file), "--insecure-registry"
    )
    assert code == 0, err
    return ref


def _verify(ref: str, policy: Path, store: Path) -> tuple[int, str, str]:
    return _run(
        "verify",
        ref,
        "--trust-policy",
        str(policy),
        "--trust-store",
        str(store),
        "--insecure-registry",
    )


def test_cli_verify_exits_2_on_a_malformed_policy(signed: str, tmp_path: Path) -> None:
    policy = tmp_path / "bad.json"
    policy.write_bytes(POLICIES["level-list"][0])
    code, out, err = _verify(signed, policy, tmp_path)
    assert (code, out) == (2, "")
    assert err.startswith(f"Error: trust policy {policy}: ") and err.count("\n") == 1


@pytest.mark.parametrize("name", ["name-invalid-utf8", "version-5", "unknown-key-algorithm"])
def test_cli_verify_exits_2_on_a_malformed_trust_store(
    signed: str, tmp_path: Path, name: str
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(pki.policy(scopes=("*",), identities=("*",))))
    store = _store(tmp_path, STORE_FILES[name][0])
    code, out, err = _verify(signed, policy, store)
    assert (code, out) == (2, "")
    assert "root.pem" in err and err.count("\n") == 1


def test_cli_verify_passes_with_the_good_store(signed: str, tmp_path: Path) -> None:
    """The two tests above fail for the file, not for the signature."""
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(pki.policy(scopes=("*",), identities=("*",))))
    code, _, err = _verify(signed, policy, _store(tmp_path, pki.pem(ROOT)))
    assert code == 0, err


# --- properties: any policy document, any store file ------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=16,
)
FIELDS = [
    ("version",),
    ("trustPolicies",),
    (*S,),
    (*S, "name"),
    (*S, "registryScopes"),
    (*S, "signatureVerification"),
    (*S, "signatureVerification", "level"),
    (*S, "signatureVerification", "override"),
    (*S, "signatureVerification", "verifyTimestamp"),
    (*S, "trustStores"),
    (*S, "trustedIdentities"),
]


@examples(300)
@given(st.sampled_from(FIELDS), JSON)
def test_any_value_in_any_policy_field_is_valid_or_a_configuration_error(
    field: tuple[Any, ...], value: Any
) -> None:
    doc = _with(field, value)
    with contextlib.suppress(ConfigurationError):
        TrustPolicyDocument.from_json(json.dumps(doc))


@examples(200)
@given(st.binary(max_size=64))
def test_any_bytes_as_a_policy_are_valid_or_a_configuration_error(data: bytes) -> None:
    with contextlib.suppress(ConfigurationError):
        TrustPolicyDocument.from_json(data)


ROOT_DER = hostile.der(ROOT)


@examples(200)
@given(st.data())
def test_any_mutated_store_certificate_loads_or_is_a_configuration_error(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    blob = bytearray(ROOT_DER)
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        pos = data.draw(st.integers(0, len(blob) - 1), label="position")
        blob[pos] ^= data.draw(st.integers(1, 255), label="xor")
    as_pem = data.draw(st.booleans(), label="pem")
    store = _store(tmp_path_factory.mktemp("store"), _pem(bytes(blob)) if as_pem else bytes(blob))
    try:
        certs = TrustStore(store).certificates(StoreType.CA, "test-root")
    except ConfigurationError:
        return
    for cert in certs:  # a loaded certificate is fully usable
        cert.subject.rfc4514_string()
        cert.public_key()


ENTRY = st.sampled_from(["root", "garbage", "empty", "directory", "symlink", "dangling"])


@examples(100)
@given(
    st.lists(st.tuples(st.text("abc.-_", min_size=1, max_size=6), ENTRY), max_size=4),
    st.text(max_size=12),
    st.booleans(),
)
def test_any_trust_store_layout_loads_or_is_a_configuration_error(
    tmp_path_factory: pytest.TempPathFactory,
    entries: list[tuple[str, str]],
    name: str,
    store_is_file: bool,
) -> None:
    """Files, directories and symlinks of any kind, any store name: a verdict on the store."""
    root = tmp_path_factory.mktemp("layout")
    store = root / "x509" / "ca" / "test-root"
    if store_is_file:
        store.parent.mkdir(parents=True)
        store.write_bytes(pki.pem(ROOT))
    else:
        store.mkdir(parents=True)
        for entry_name, kind in entries:
            path = store / entry_name
            if path.exists() or path.is_symlink() or entry_name in (".", ".."):
                continue
            if kind == "root":
                path.write_bytes(pki.pem(ROOT))
            elif kind == "garbage":
                path.write_bytes(b"\x00\xff garbage")
            elif kind == "empty":
                path.write_bytes(b"")
            elif kind == "directory":
                path.mkdir()
            elif kind == "symlink":
                path.symlink_to(root)
            else:
                path.symlink_to(root / "nowhere")
    for store_name in ("test-root", name):
        with contextlib.suppress(ConfigurationError):
            TrustStore(root).certificates(StoreType.CA, store_name)
