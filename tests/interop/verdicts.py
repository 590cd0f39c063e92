"""One trust configuration, two verifiers: the real ``notation verify`` and ours.

``Verifiers.trust`` writes notation's own files (trust store, trustpolicy.json, level
strict, the leaf's subject as the only trusted identity); our ``Verifier`` reads the very
same files, so a disagreement can only come from the verifiers, never from their setup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography import x509

from signer.reference import Reference
from signer.signatures import verify_reference
from signer.verifier import ArtifactVerification, TrustPolicyDocument, Verifier
from tests.interop.registries import InteropRegistry
from tests.servers.notation import Notation, NotationRun


def notation_identity(leaf: x509.Certificate) -> str:
    """The leaf's subject in the form of notation's ``trustedIdentities``."""
    attributes = ", ".join(f"{a.rfc4514_attribute_name}={a.value!s}" for a in leaf.subject)
    return f"x509.subject: {attributes}"


@dataclass(frozen=True)
class Verdict:
    reference: str
    notation: NotationRun
    ours: ArtifactVerification

    @property
    def agree(self) -> bool:
        return self.notation.passed == self.ours.verified

    @property
    def ours_reason(self) -> str:
        reasons = "; ".join(o.error for o in self.ours.outcomes if o.error)
        return f"{self.ours.error} ({reasons})" if self.ours.error else "verified"

    @property
    def notation_reason(self) -> str:
        """notation's own words: its errors and warnings (``--verbose`` adds the reasons)."""
        lines = (self.notation.stdout + self.notation.stderr).splitlines()
        said = [ln for ln in lines if "level=error" in ln or "level=warning" in ln]
        said += [ln for ln in lines if ln.startswith(("Error:", "Successfully", "Warning:"))]
        return "\n    ".join(said) or "(no output)"

    def __str__(self) -> str:
        return (
            f"{self.reference}\n  notation: exit {self.notation.exit_code}:\n    "
            f"{self.notation_reason}\n  ours: {self.ours_reason}"
        )


class Verifiers:
    def __init__(self, notation: Notation, registry: InteropRegistry) -> None:
        self.notation = notation
        self.registry = registry

    def trust(
        self,
        repository: str,
        anchors: Sequence[x509.Certificate],
        leaf: x509.Certificate,
        *,
        store_type: str = "ca",
    ) -> None:
        """Trust ``anchors`` for ``repository`` at level strict, for ``leaf``'s identity only."""
        self.notation.trust(anchors, "interop", store_type)
        self.notation.simple_policy(
            f"{self.registry.host}/{repository}",
            "interop",
            identities=[notation_identity(leaf)],
            stores=[f"{store_type}:interop"],
        )

    def verify(
        self, repository: str, digest: str, user_metadata: Mapping[str, str] | None = None
    ) -> Verdict:
        ref = f"{self.registry.host}/{repository}@{digest}"
        run = self.notation.verify(ref, user_metadata=user_metadata, verbose=True)
        ours = Verifier(
            TrustPolicyDocument.load(self.notation.config / "trustpolicy.json"),
            self.notation.config / "truststore",
        )
        with self.registry.client() as client:
            _, result = verify_reference(client, Reference.parse(ref), ours, user_metadata)
        return Verdict(ref, run, result)
