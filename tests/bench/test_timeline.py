"""The benchmark's reading of the proxy's exchanges: per-event counts and the critical path."""

from __future__ import annotations

from bench.timeline import (
    EventView,
    Exchange,
    critical_chain,
    in_window,
    per_signature,
    render_timeline,
    views,
)

DIGEST = "sha256:" + "ab" * 32


def ex(remote: str, start: float, end: float, request: str, response: str = "") -> Exchange:
    return Exchange(remote, 1, start, end, request, response, 10, 10)


def test_overlapping_exchanges_count_as_one_round_trip() -> None:
    items = [
        ex("olareg", 0.0, 1.0, "GET /a HTTP/1.1"),
        ex("table", 1.0, 2.0, "POST /t HTTP/1.1"),
        ex("keyvault", 1.5, 2.5, "TLS data"),  # in parallel with the table call
        ex("olareg", 2.6, 3.0, "PUT /b HTTP/1.1"),
    ]
    chain = critical_chain(items)
    assert [e.request for e in chain] == ["GET /a HTTP/1.1", "POST /t HTTP/1.1", "PUT /b HTTP/1.1"]


def test_a_connection_set_up_is_a_round_trip_of_its_own() -> None:
    items = [
        ex("olareg", 0.0, 0.005, "TCP connect"),
        ex("olareg", 0.005, 0.010, "HEAD /v2/r/manifests/x HTTP/1.1"),
    ]
    assert len(critical_chain(items)) == 2


def test_exchanges_belong_to_the_window_holding_their_start() -> None:
    items = [ex("olareg", t, t + 0.1, "GET / HTTP/1.1") for t in (0.5, 1.5, 2.5)]
    assert [e.start for e in in_window(items, (1.0, 2.0))] == [1.5]
    assert [len(v.items) for v in views(items, [[0.0, 1.0], [1.0, 3.0]])] == [1, 2]


def test_requests_per_signature_by_remote_and_shape() -> None:
    one = [
        ex("olareg", 0, 0.001, "TCP connect"),
        ex("olareg", 0.001, 0.002, f"GET /v2/app/manifests/{DIGEST} HTTP/1.1", "HTTP/1.1 200 OK"),
        ex("table", 0.002, 0.003, "POST /devstoreaccount1/ledger HTTP/1.1", "HTTP/1.1 201 Created"),
        ex(
            "blob",
            0.003,
            0.004,
            "PUT /devstoreaccount1/leases/abc?comp=lease HTTP/1.1 [acquire]",
            "HTTP/1.1 201 Created",
        ),
        ex("keyvault", 0.004, 0.005, "TLS handshake", "TLS handshake"),
        ex("keyvault", 0.005, 0.006, "TLS data", "TLS data"),
    ]
    figures = per_signature([EventView((0.0, 1.0), one), EventView((1.0, 2.0), one[1:2])])
    assert figures["signatures"] == 2
    assert figures["registry"]["per_signature"] == {"GET /v2/<name>/manifests/<digest> -> 200": 1.0}
    assert figures["registry"]["connections_per_signature"] == 0.5
    assert figures["storage"]["per_signature"] == {
        "POST table /<table> -> 201": 0.5,
        "PUT blob /<container>/<blob>?comp=lease [acquire] -> 201": 0.5,
    }
    assert figures["keyvault_exchanges"]["total_per_signature"] == 0.5  # not the handshake
    assert figures["tsa"]["total_per_signature"] == 0.0
    assert figures["sequential_round_trips"]["max"] == 6


def test_the_timeline_marks_the_chain_and_folds_digests() -> None:
    items = [
        ex("olareg", 10.000, 10.006, f"GET /v2/app/manifests/{DIGEST} HTTP/1.1", "HTTP/1.1 200 OK"),
        ex("table", 10.006, 10.012, "POST /acct/ledger HTTP/1.1", "HTTP/1.1 201 Created"),
        ex("keyvault", 10.007, 10.013, "TLS data", "TLS data"),
    ]
    lines = render_timeline(EventView((10.0, 10.02), items), "title")
    assert lines[0] == "title"
    assert "2 sequential round trips" in lines[1]
    assert "GET /v2/app/manifests/sha256:abababab… -> 200 OK" in lines[3]
    assert " * olareg" in lines[3] and " * table" in lines[4]
    assert "   keyvault" in lines[5]  # ran in parallel: not on the chain
