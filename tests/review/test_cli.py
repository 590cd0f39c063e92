"""Review: a signing key the CLI cannot use is a usage error (exit 2), like every other
unusable configuration (an encrypted key, a key that does not match the chain)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519

from signer.cli import EXIT_USAGE, main

KEYS: dict[
    str, Callable[[], ed25519.Ed25519PrivateKey | dsa.DSAPrivateKey | ec.EllipticCurvePrivateKey]
] = {
    "ed25519": ed25519.Ed25519PrivateKey.generate,
    "dsa": lambda: dsa.generate_private_key(2048),
    "secp192r1": lambda: ec.generate_private_key(ec.SECP192R1()),
}


@pytest.mark.parametrize("kind", KEYS)
def test_an_unsupported_key_file_is_a_usage_error(
    kind: str, tmp_path: Path, dev_certificate: dict[str, Path]
) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes(
        KEYS[kind]().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    out, err = io.StringIO(), io.StringIO()
    argv = ["sign", "--key", str(key), "--cert", str(dev_certificate["chain"]),
            "--insecure-registry", "127.0.0.1:1/app/x:v1"]  # fmt: skip

    code = main(argv, out=out, err=err)

    assert len(err.getvalue().splitlines()) == 1, err.getvalue()
    assert code == EXIT_USAGE, f"exit {code}: {err.getvalue()}"  # is 1, "failed"
