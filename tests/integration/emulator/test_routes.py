"""Unknown routes answer Google-form JSON errors."""

from __future__ import annotations

import pytest
import requests

from vertex_emulator import EmulatorServer

pytestmark = pytest.mark.timeout(120)


# -- routes ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/projects/test-project/locations/us-central1/trainingPipelines"),
        ("GET", "/nothing"),
        ("POST", "/v1/projects/test-project/locations/us-central1/customJobs/123:frobnicate"),
        ("PUT", "/v1/projects/test-project/locations/us-central1/customJobs/123"),
        ("GET", "/emulator/nothing"),
    ],
)
def test_unknown_routes_answer_google_404(emulator: EmulatorServer, method: str, path: str) -> None:
    response = requests.request(method, emulator.url + path, timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"
    assert response.json()["error"]["code"] == 404
