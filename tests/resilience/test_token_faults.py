"""Token endpoint faults: ACR's ``/oauth2/exchange`` + ``/oauth2/token`` and managed identity.

The in-memory OCI registry runs in ACR auth mode (the token endpoints live on the
registry host, so its own fault knobs are used rather than the proxy: a proxy would
change the ``service`` the tokens are bound to). The app signs with ``SIGNER_REGISTRY_AUTH=entra``
and the real ``ManagedIdentityCredential`` against the local managed-identity endpoint,
as an Azure Functions worker does. A token endpoint that fails is retried within the
client's budget or surfaces as a transient failure; a later delivery then signs.
"""

from __future__ import annotations

import time

import pytest

from scripts.sample_events import push_event
from signer.errors import TransientError, TransientRegistryError
from tests.plugins.app import SignerApp
from tests.resilience.helpers import anonymous, deliver_until_acknowledged
from tests.servers import oci_registry as routes
from tests.servers.images import PushedImage
from tests.servers.msi import ManagedIdentityServer
from tests.servers.oci_registry import OciRegistry

ACR_RESOURCE = "https://containerregistry.azure.net"


def _seed(app: SignerApp, registry: OciRegistry) -> PushedImage:
    with anonymous(registry):
        return app.pusher.push_image("team/app", "v1")


def _assert_signed_once(app: SignerApp, registry: OciRegistry, image: PushedImage) -> None:
    with anonymous(registry):
        assert len(app.signatures("team/app", image.digest, image.size, image.media_type)) == 1
        verdict = app.verify("team/app", image.digest)
    assert verdict.verified, verdict.error


def _event(registry: OciRegistry, image: PushedImage) -> dict[str, object]:
    return push_event(registry.host, "team/app", image.digest, event_id="evt-acr")


@pytest.mark.parametrize(
    ("route", "status", "count", "retry_after"),
    [
        (routes.ACR_TOKEN, 503, 3, None),  # the whole budget: 3 retries
        (routes.EXCHANGE, 502, 2, None),
        (routes.ACR_TOKEN, 429, 1, "1"),
        (routes.ACR_TOKEN, None, 1, None),  # connection dropped without an answer
        (routes.EXCHANGE, None, 2, None),
    ],
    ids=["token-503x3", "exchange-502x2", "token-429-retry-after-1", "token-drop", "exchange-drop"],
)
def test_token_endpoint_fault_retried_within_budget(
    *,
    acr_app: SignerApp,
    acr_registry: OciRegistry,
    route: str,
    status: int | None,
    count: int,
    retry_after: str | None,
) -> None:
    image = _seed(acr_app, acr_registry)
    acr_registry.fail_next(status, count, retry_after=retry_after, route=route, method="POST")
    started = time.monotonic()

    acr_app.deliver(_event(acr_registry, image))

    if retry_after:
        assert time.monotonic() - started >= 0.9
    assert acr_registry.count("POST", route) == count + 1
    _assert_signed_once(acr_app, acr_registry, image)
    assert [r["status"] for r in acr_app.history(image.digest)] == ["signed"]


@pytest.mark.parametrize("route", [routes.ACR_TOKEN, routes.EXCHANGE])
def test_token_endpoint_down_is_transient_then_redelivery_signs(
    acr_app: SignerApp, acr_registry: OciRegistry, route: str
) -> None:
    image = _seed(acr_app, acr_registry)
    acr_registry.fail_next(503, 4, route=route, method="POST")
    event = _event(acr_registry, image)

    with pytest.raises(TransientRegistryError, match="HTTP 503 after 4 attempts") as raised:
        acr_app.deliver(event)
    assert route in str(raised.value)
    assert acr_registry.count("POST", route) == 4
    [failed] = acr_app.history(image.digest)
    assert failed["status"] == "failed"
    assert failed["reason"].startswith("transient, will be retried:")

    acr_app.deliver(event)  # the endpoint is back (the 4 injected failures are used up)

    _assert_signed_once(acr_app, acr_registry, image)
    assert [r["status"] for r in acr_app.history(image.digest)] == ["signed", "failed"]


def test_managed_identity_endpoint_down_is_transient_then_redelivery_signs(
    acr_app: SignerApp, acr_registry: OciRegistry, msi_server: ManagedIdentityServer
) -> None:
    """No Entra token at all (IDENTITY_ENDPOINT answering 503): the event must come back."""
    image = _seed(acr_app, acr_registry)
    msi_server.fail_next(times=50, status=503)
    event = _event(acr_registry, image)

    with pytest.raises(TransientError) as raised:
        acr_app.deliver(event)
    assert "Entra ID token" in str(raised.value)
    assert acr_registry.count("POST", routes.EXCHANGE) == 0  # never got that far
    [failed] = acr_app.history(image.digest)
    assert failed["status"] == "failed"
    assert failed["reason"].startswith("transient, will be retried:")

    with msi_server._lock:  # the identity endpoint recovers
        msi_server._fail_next.clear()
    # azure-identity (MSAL) holds a 5xx answer for a few seconds: Event Grid's own
    # backoff is longer than that, a tight loop here is not, so deliver with a pause
    attempts = deliver_until_acknowledged(lambda: acr_app.deliver(event), attempts=8, pause=1.0)

    _assert_signed_once(acr_app, acr_registry, image)
    statuses = [r["status"] for r in acr_app.history(image.digest)]
    assert statuses == ["signed"] + ["failed"] * attempts
    assert msi_server.calls_for(ACR_RESOURCE) >= 2
