"""``python -m signer`` end to end, on both referrer paths.

docker-registry (distribution 2.8, no referrers API: the tag schema) and the
in-memory OCI 1.1 registry (referrers API): sign, list, verify, idempotent
re-sign, forced re-sign, two signatures kept, expiry and user metadata.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from signer.cli import main
from signer.models import Descriptor
from signer.registry.manifests import signature_manifest
from tests.servers.docker_registry import DockerRegistry
from tests.servers.images import ImagePusher, sha256
from tests.servers.oci_registry import OciRegistry
from tests.verifier import hostile, pki

CERTS = Path(__file__).resolve().parents[1] / "fixtures" / "notary-vectors" / "certs"


def run(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def trust(tmp_path: Path) -> tuple[Path, Path]:
    """A trust policy for every registry and a store holding the RSA root."""
    store = tmp_path / "truststore"
    (store / "x509" / "ca" / "vectors").mkdir(parents=True)
    shutil.copy(
        CERTS / "rsa2048-chain" / "root.pem", store / "x509" / "ca" / "vectors" / "root.pem"
    )
    policy = tmp_path / "trustpolicy.json"
    policy.write_text(
        json.dumps(
            {
                "version": "1.0",
                "trustPolicies": [
                    {
                        "name": "all",
                        "registryScopes": ["*"],
                        "signatureVerification": {"level": "strict"},
                        "trustStores": ["ca:vectors"],
                        "trustedIdentities": [
                            "x509.subject: C=US, ST=WA, L=Seattle, O=Notary Vectors, "
                            "CN=Notary Vectors RSA-2048 Leaf"
                        ],
                    }
                ],
            }
        )
    )
    return policy, store


KEY = (
    "--key",
    str(CERTS / "rsa2048-chain" / "key.pem"),
    "--cert",
    str(CERTS / "rsa2048-chain" / "chain.pem"),
)


@pytest.fixture(params=["tag-schema", "referrers-api"])
def target(
    request: pytest.FixtureRequest, docker_registry: DockerRegistry, repository_name: str
) -> Any:
    if request.param == "tag-schema":
        host, url = docker_registry.host, docker_registry.url
        yield host, ImagePusher(url), repository_name, request.param
        return
    with OciRegistry() as registry:
        yield registry.host, ImagePusher(registry.url), repository_name, request.param


def test_sign_verify_inspect_resign(target: Any, trust: tuple[Path, Path]) -> None:
    host, pusher, repo, path = target
    image = pusher.push_image(repo, "v1")
    ref = f"{host}/{repo}:v1"
    policy, store = trust

    code, out, err = run("sign", ref, *KEY, "--insecure-registry", "-o", "json")
    assert code == 0, err
    signed = json.loads(out)
    assert signed["status"] == "signed"
    assert signed["digest"] == image.digest
    assert signed["referrersApi"] is (path == "referrers-api")

    verify = ("verify", ref, "--trust-policy", str(policy), "--trust-store", str(store))
    code, out, err = run(*verify, "--insecure-registry")
    assert code == 0, err
    assert out.strip() == f"Successfully verified signature for {host}/{repo}@{image.digest}"

    # idempotent: the same certificate's signature exists
    code, out, _ = run("sign", ref, *KEY, "--insecure-registry")
    assert code == 0
    assert out.startswith("skipped")

    # forced: a second signature, both listed
    code, out, _ = run("sign", ref, *KEY, "--insecure-registry", "--force", "-o", "json")
    assert code == 0
    second = json.loads(out)["signatureDigest"]
    code, out, _ = run("inspect", ref, "--insecure-registry", "-o", "json")
    assert code == 0
    listed = {s["manifestDigest"] for s in json.loads(out)["signatures"]}
    assert listed == {signed["signatureDigest"], second}
    assert run(*verify, "--insecure-registry")[0] == 0

    code, out, _ = run("inspect", ref, "--insecure-registry")
    assert "PS256" in out
    assert "CN=Notary Vectors RSA-2048 Leaf" in out


def test_expiry_and_user_metadata(target: Any, trust: tuple[Path, Path]) -> None:
    host, pusher, repo, _ = target
    pusher.push_image(repo, "v1")
    ref = f"{host}/{repo}:v1"
    policy, store = trust
    code, _, err = run(
        "sign",
        ref,
        *KEY,
        "--insecure-registry",
        "--expiry",
        "24h",
        "-m",
        "env=prod",
        "-m",
        "team=core",
    )
    assert code == 0, err
    verify = (
        "verify",
        ref,
        "--trust-policy",
        str(policy),
        "--trust-store",
        str(store),
        "--insecure-registry",
    )
    assert run(*verify, "-m", "env=prod")[0] == 0
    assert run(*verify, "-m", "env=prod", "-m", "team=core")[0] == 0
    code, _, err = run(*verify, "-m", "env=dev")
    assert code == 1
    assert "user metadata env=dev" in err
    code, out, _ = run("inspect", ref, "--insecure-registry", "-o", "json")
    [sig] = json.loads(out)["signatures"]
    assert sig["expiry"] is not None


def test_batch_sign_shows_progress(docker_registry: DockerRegistry, repository_name: str) -> None:
    pusher = ImagePusher(docker_registry.url)
    refs = []
    for n in range(3):
        pusher.push_image(repository_name, f"v{n}")
        refs.append(f"{docker_registry.host}/{repository_name}:v{n}")
    refs.append(f"{docker_registry.host}/{repository_name}:missing")
    code, out, err = run("sign", *refs, *KEY, "--insecure-registry")
    assert code == 1  # one failed
    lines = err.strip().splitlines()
    assert [line.split("]")[0] for line in lines] == ["[1/4", "[2/4", "[3/4", "[4/4"]
    assert "not found" in lines[3]
    assert out.strip() == "3 signed, 0 skipped, 1 failed"


def test_references_file(
    tmp_path: Path, docker_registry: DockerRegistry, repository_name: str
) -> None:
    pusher = ImagePusher(docker_registry.url)
    pusher.push_image(repository_name, "a")
    listing = tmp_path / "refs.txt"
    listing.write_text(f"# backfill\n{docker_registry.host}/{repository_name}:a\n\n")
    code, out, _ = run("sign", "--references-file", str(listing), *KEY, "--insecure-registry")
    assert code == 0
    assert out.startswith("signed")


def test_a_references_file_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    listing = tmp_path / "refs.txt"
    listing.write_bytes(b"localhost:1/app:v1\n\xff\xfe garbage\n")
    code, out, err = run("sign", "--references-file", str(listing), *KEY)
    assert (code, out) == (2, "")
    assert err.startswith("Error: ") and "not UTF-8" in err
    assert len(err.strip().splitlines()) == 1


def test_basic_auth_from_environment(
    docker_registry_basic: DockerRegistry, repository_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import requests  # noqa: PLC0415

    assert docker_registry_basic.credentials is not None
    user, password = docker_registry_basic.credentials
    session = requests.Session()
    session.auth = (user, password)
    ImagePusher(docker_registry_basic.url, session).push_image(repository_name, "v1")
    ref = f"{docker_registry_basic.host}/{repository_name}:v1"
    code, _, err = run("sign", ref, *KEY, "--insecure-registry")
    assert code == 1
    assert "unauthorized" in err.lower() or "authentication" in err.lower()
    monkeypatch.setenv("SIGNER_REGISTRY_USERNAME", user)
    monkeypatch.setenv("SIGNER_REGISTRY_PASSWORD", password)
    code, out, err = run("sign", ref, *KEY, "--insecure-registry")
    assert code == 0, err
    assert password not in out + err


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (("sign", "no-registry", *KEY), 2, "has no registry"),
        (("sign", "localhost:1/Bad:v1", *KEY), 2, "invalid repository name"),
        (("sign", "localhost:1/app@sha256:abc", *KEY), 2, "invalid digest"),
        (("sign", "localhost:1/app:v1"), 2, "give --key and --cert"),
        (
            ("sign", "localhost:1/app:v1", *KEY, "--key-id", "https://v.vault.azure.net/keys/k"),
            2,
            "not both",
        ),
        (
            ("sign", "localhost:1/app:v1", "--key", "/nonexistent.pem", "--cert", "/x.pem"),
            2,
            "cannot read",
        ),
        (("sign", "localhost:1/app:v1", *KEY, "--expiry", "soon"), 2, "is not a duration"),
        (("sign", "localhost:1/a:v1", "localhost:2/a:v1", *KEY), 2, "same registry"),
        (("sign", *KEY), 2, "at least one REFERENCE"),
        # values that used to end in a traceback (issue 9, finding 14)
        (("sign", "localhost:1/app:v1", *KEY, "--expiry", "3000000d"), 2, "longest duration"),
        (("sign", "localhost:1/app:v1", *KEY, "--timeout", "nan"), 2, "between 0 and 3600"),
        (("sign", "localhost:1/app:v1", *KEY, "--timeout", "-1"), 2, "between 0 and 3600"),
        (("sign", "localhost:1/app:v1", *KEY, "--timeout", "0"), 2, "between 0 and 3600"),
        (("sign", "localhost:1/app:v1", *KEY, "-m", "env=\udcff"), 2, "not valid text"),
        (("verify", "localhost:1/app:v1", "-m", "\udcff=x"), 2, "not valid text"),
        (("sign", "--bogus-flag"), 2, "unrecognized arguments"),
        # timestamping: notation's two flags, both or neither, the root checked at start
        (
            ("sign", "localhost:1/app:v1", *KEY, "--timestamp-url", "http://tsa.example/"),
            2,
            "go together",
        ),
        (("sign", "localhost:1/app:v1", *KEY, "--timestamp-root-cert", "/r.pem"), 2, "go together"),
        (
            (
                "sign",
                "localhost:1/app:v1",
                *KEY,
                "--timestamp-url",
                "http://tsa.example/",
                "--timestamp-root-cert",
                "/nonexistent.pem",
            ),
            2,
            "cannot read it",
        ),
        (
            (
                "sign",
                "localhost:1/app:v1",
                *KEY,
                "--timestamp-url",
                "ftp://tsa.example/",
                "--timestamp-root-cert",
                str(CERTS / "rsa2048-chain" / "root.pem"),
            ),
            2,
            "http or https",
        ),
    ],
)
def test_usage_errors_are_one_line(argv: tuple[str, ...], code: int, message: str) -> None:
    got, out, err = run(*argv)
    assert got == code
    assert out == ""
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("Error: ")


def test_unsupported_key_and_non_notary_leaf(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415

    key = tmp_path / "ed.pem"
    key.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    code, _, err = run(
        "sign",
        "localhost:1/app:v1",
        "--key",
        str(key),
        "--cert",
        str(CERTS / "rsa2048-chain" / "chain.pem"),
    )
    assert code == 2  # the key a user named is a usage error, not a failed signature
    assert "not supported" in err


def test_missing_tag_and_unreachable_registry(
    docker_registry: DockerRegistry, repository_name: str
) -> None:
    code, _, err = run(
        "sign", f"{docker_registry.host}/{repository_name}:nope", *KEY, "--insecure-registry"
    )
    assert code == 1
    assert "not found" in err
    code, _, err = run("sign", "127.0.0.1:9/app:v1", *KEY, "--insecure-registry", "--timeout", "1")
    assert code == 3
    assert "try again" in err


def test_verify_rejects_untrusted_signature(
    docker_registry: DockerRegistry, repository_name: str, tmp_path: Path
) -> None:
    ImagePusher(docker_registry.url).push_image(repository_name, "v1")
    ref = f"{docker_registry.host}/{repository_name}:v1"
    assert run("sign", ref, *KEY, "--insecure-registry")[0] == 0
    store = tmp_path / "store"
    (store / "x509" / "ca" / "other").mkdir(parents=True)
    shutil.copy(CERTS / "ec-ca" / "root.pem", store / "x509" / "ca" / "other" / "root.pem")
    policy = tmp_path / "p.json"
    policy.write_text(
        json.dumps(
            {
                "version": "1.0",
                "trustPolicies": [
                    {
                        "name": "p",
                        "registryScopes": ["*"],
                        "signatureVerification": {"level": "strict"},
                        "trustStores": ["ca:other"],
                        "trustedIdentities": ["*"],
                    }
                ],
            }
        )
    )
    code, _, err = run(
        "verify",
        ref,
        "--trust-policy",
        str(policy),
        "--trust-store",
        str(store),
        "--insecure-registry",
    )
    assert code == 1
    assert err.startswith("Error: signature verification failed for all the signatures")


def test_unsigned_artifact_fails_verification(
    docker_registry: DockerRegistry, repository_name: str, trust: tuple[Path, Path]
) -> None:
    ImagePusher(docker_registry.url).push_image(repository_name, "v1")
    policy, store = trust
    code, _, err = run(
        "verify",
        f"{docker_registry.host}/{repository_name}:v1",
        "--trust-policy",
        str(policy),
        "--trust-store",
        str(store),
        "--insecure-registry",
    )
    assert code == 1
    assert "no signature is associated" in err


def _skip_policy(tmp_path: Path) -> Path:
    policy = tmp_path / "skip.json"
    statement = {
        "name": "skip-all",
        "registryScopes": ["*"],
        "signatureVerification": {"level": "skip"},
    }
    policy.write_text(json.dumps({"version": "1.0", "trustPolicies": [statement]}))
    return policy


def test_verify_at_level_skip_says_it_skipped(oci_registry: OciRegistry, tmp_path: Path) -> None:
    """Issue 10: 'skip' is not 'Successfully verified'; notation's wording, exit 0."""
    image = ImagePusher(oci_registry.url).push_image("app", "v1")
    argv = (
        "verify",
        f"{oci_registry.host}/app:v1",
        "--trust-policy",
        str(_skip_policy(tmp_path)),
        "--trust-store",
        str(tmp_path / "no-store"),
        "--insecure-registry",
    )
    code, out, err = run(*argv)
    shown = f"{oci_registry.host}/app@{image.digest}"
    assert (code, err) == (0, "")
    assert out == f"Trust policy is configured to skip signature verification for {shown}\n"
    code, out, _ = run(*argv, "-o", "json")
    result = json.loads(out)
    assert code == 0
    assert (result["status"], result["verified"], result["signatures"]) == ("skipped", False, [])


def test_verify_json_keeps_failed_and_verified_apart(
    oci_registry: OciRegistry, trust: tuple[Path, Path]
) -> None:
    ImagePusher(oci_registry.url).push_image("app", "v1")
    ref = f"{oci_registry.host}/app:v1"
    policy, store = trust
    verify = ("verify", ref, "--trust-policy", str(policy), "--trust-store", str(store))
    code, out, _ = run(*verify, "--insecure-registry", "-o", "json")
    assert (code, json.loads(out)["status"]) == (1, "failed")
    assert run("sign", ref, *KEY, "--insecure-registry")[0] == 0
    code, out, _ = run(*verify, "--insecure-registry", "-o", "json")
    result = json.loads(out)
    assert (code, result["status"], result["signatures"][0]["status"]) == (
        0,
        "verified",
        "verified",
    )


def test_inspect_and_verify_list_hostile_signatures_without_a_traceback(
    oci_registry: OciRegistry, tmp_path: Path
) -> None:
    """Issue 9, finding 8: anyone can push these; both commands give a verdict for each."""
    pusher = ImagePusher(oci_registry.url)
    image = pusher.push_image("app", "v1")
    key = hostile.signing_key()
    leaf = pki.certificate(key, pki.name("CLI Hostile"))
    payload = json.dumps(
        {
            "targetArtifact": {
                "mediaType": image.media_type,
                "digest": image.digest,
                "size": image.size,
            }
        }
    ).encode()
    bad_name = hostile.resign(leaf, key, [(b"CLI Hostile", b"\xff\xfeI Hostile")])
    envelopes = [
        hostile.cose(payload, [bad_name], key),
        hostile.cose(b"[" * 100_000 + b"]" * 100_000, [hostile.der(leaf)], key),
        hostile.cose(payload, [hostile.der(leaf)], key),  # the good one, last
    ]
    subject = Descriptor(image.media_type, image.digest, image.size)
    pusher.push_blob("app", b"{}")
    for n, blob in enumerate(envelopes):
        layer = Descriptor("application/cose", pusher.push_blob("app", blob), len(blob))
        manifest = signature_manifest(subject, layer, {"n": str(n)})
        pusher.push_manifest(
            "app", sha256(manifest), manifest, "application/vnd.oci.image.manifest.v1+json"
        )

    ref = f"{oci_registry.host}/app:v1"
    code, out, err = run("inspect", ref, "--insecure-registry", "-o", "json")
    assert (code, err) == (0, "")
    errors = sorted(str(s["error"]) for s in json.loads(out)["signatures"])
    assert len(errors) == 3 and errors[0] == "None"
    assert any("invalid certificate" in e for e in errors)
    assert any("nested too deeply" in e for e in errors)
    code, out, _ = run("inspect", ref, "--insecure-registry")
    assert code == 0 and out.count("invalid envelope") == 2 and "\\xff" not in out

    store = tmp_path / "store"
    pki.write_store(store, "test-root", [leaf])
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(pki.policy(scopes=("*",), identities=("*",))))
    verify = ("verify", ref, "--trust-policy", str(policy), "--trust-store", str(store))
    code, out, err = run(*verify, "--insecure-registry")
    assert code == 0, err
    assert out.startswith("Successfully verified signature for")
