"""The service answers as its own ``/openapi.json`` says: schemathesis generates requests
from the schema (parameters, multipart bodies, headers) and checks every answer's status
code, content type, headers and body against the documented responses, and that none is a
server error. In-process (ASGI, no socket), derandomized and bounded in examples.

Oracle: the OpenAPI document itself, read back from the running app; the checks are
schemathesis' own, not ours.
"""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

from facerec import FaceRecognizer  # noqa: E402
from facerec.gallery import Gallery  # noqa: E402
from pipelines.serve import ServeConfig, create_app  # noqa: E402
from pipelines.serve.auth import hash_key  # noqa: E402

KEY = "openapi-test-key-0123456789"


@pytest.fixture(scope="module")
def api_schema(random_model: Path, aaron: Path, tmp_path_factory):
    """The app with one saved gallery ``people`` (so reads can succeed) and a known key."""
    recognizer = FaceRecognizer.load(random_model)
    root = tmp_path_factory.mktemp("openapi-galleries")
    g = Gallery(recognizer)
    g.enroll("Aaron", [str(aaron)])
    g.save(root / "people")
    config = ServeConfig(gallery_dir=root, api_key_hashes=frozenset({hash_key(KEY)}), workers=1,
                         max_upload_bytes=256 * 1024)
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(config, recognizer))


def excluded(operation) -> list:
    """Checks that do not apply: an upload's *content* (a decodable photo, with one face for
    verify and enroll) decides acceptance, and no schema can say "contains a face", so a
    schema-valid upload may be rejected (400 image_invalid, 422 no_face). Everything else
    (parameters, patterns, required fields) must be accepted when schema-valid."""
    uploads = "requestBody" in operation.definition.raw
    return [positive_data_acceptance] if uploads else []


def test_answers_match_the_openapi_document(api_schema) -> None:
    # Each operation's strategy driven by hypothesis directly (schemathesis' pytest plugin
    # does not load under this pytest).
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 9
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case) -> None:
            case.call_and_validate(headers={"X-API-Key": KEY}, excluded_checks=excluded(case.operation))

        check()


def test_documented_error_statuses_are_reachable(api_schema) -> None:
    """The statuses the document adds beyond FastAPI's defaults do occur (so the contract
    test above exercises them), and /metrics is documented as the text it serves."""
    doc = api_schema.raw_schema
    search = doc["paths"]["/v1/galleries/{name}/search"]["post"]["responses"]
    assert {"400", "404", "413", "422", "500"} <= set(search)
    assert search["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    name = next(p for p in doc["paths"]["/v1/galleries/{name}/identities"]["get"]["parameters"] if p["name"] == "name")
    assert name["schema"]["pattern"] == "^[A-Za-z0-9_-]{1,64}$"
    assert set(doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    body = doc["paths"]["/v1/verify"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    assert doc["components"]["schemas"][body.rsplit("/", 1)[-1]]["required"] == ["image_a", "image_b"]


def test_enroll_documents_images_as_required_and_the_server_agrees(random_model: Path, aaron: Path,
                                                                    tmp_path: Path) -> None:
    """The schema says images are required (1 to 32 files); the server rejects exactly what the
    schema rejects, with 422 (checked against the document, not against the code's constant)."""
    from fastapi.testclient import TestClient

    app = create_app(ServeConfig(gallery_dir=tmp_path, api_key_hashes=frozenset({hash_key(KEY)}), workers=1),
                     FaceRecognizer.load(random_model))
    doc = app.openapi()
    body = doc["paths"]["/v1/galleries/{name}/identities/{identity}"]["post"]["requestBody"]
    ref = body["content"]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]
    schema = doc["components"]["schemas"][ref]
    assert body["required"] is True and "images" in schema["required"]
    images = schema["properties"]["images"]
    lo, hi = images["minItems"], images["maxItems"]
    assert lo == 1
    client = TestClient(app, raise_server_exceptions=False)
    url, auth = "/v1/galleries/g/identities/Aaron", {"X-API-Key": KEY}
    photo = ("images", ("a.jpg", aaron.read_bytes(), "image/jpeg"))
    assert client.post(url, headers=auth, data={"metadata": "{}"}).status_code == 422  # none
    assert client.post(url, headers=auth, files=[photo] * (hi + 1)).status_code == 422
    assert client.post(url, headers=auth, files=[photo] * lo).status_code == 200
