"""The reference tools themselves start and answer: the base the interoperability tier stands on."""

from __future__ import annotations

import json

import requests

from tests.servers.images import ImagePusher
from tests.servers.notation import Notation
from tests.servers.olareg import Olareg


def test_olareg_serves_the_referrers_api(olareg: Olareg, repository_name: str) -> None:
    image = ImagePusher(olareg.url).push_image(repository_name, "v1")
    answer = requests.get(f"{olareg.url}/v2/{repository_name}/referrers/{image.digest}", timeout=5)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/vnd.oci.image.index.v1+json")
    # olareg v0.1.2 writes "manifests": null for an empty list; the client reads both
    assert json.loads(answer.content)["manifests"] in (None, [])


def test_notation_reports_its_version(notation: Notation) -> None:
    run = notation.run("version")
    assert run.passed, run
    assert "v1.3.2" in run.stdout
