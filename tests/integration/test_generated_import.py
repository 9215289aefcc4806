"""The generated `google.cloud.aiplatform_v1` package is imported at the cost of what the adapter uses
(`adapters/aiplatform.py`), and stays complete for code that uses it the usual way. Each case runs in a fresh
interpreter: what is imported is process state."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"

FIRST_CALLS = r"""
import json, sys
from polysync_vertex.adapters import aiplatform
from polysync_vertex.adapters.vertex import VertexJobs
from polysync_vertex.core import kinds

before = set(sys.modules)
for kind in kinds.KINDS:  # what create / list / get / cancel of every kind touch
    aiplatform.client_class(kind.service)
    VertexJobs._to_proto(kind, {"displayName": "x"})
    aiplatform.message(f"{kind.service}_service", f"List{kind.resource}sRequest")
VertexJobs.accelerator_types()
added = set(sys.modules) - before
print(json.dumps({
    "added": len(added),
    "services": sorted(m.split(".")[4] for m in added if m.count(".") == 4 and ".services." in m),
    "package_init_ran": "DatasetServiceClient" in vars(sys.modules["google.cloud.aiplatform_v1"]),
}))
"""

# The same two clients the usual way (the package __init__s run), from the same starting point.
FULL_IMPORT = r"""
import json, sys
from polysync_vertex.adapters import vertex
before = set(sys.modules)
from google.cloud.aiplatform_v1.services.job_service import JobServiceClient
from google.cloud.aiplatform_v1.services.pipeline_service import PipelineServiceClient
print(json.dumps({"added": len(set(sys.modules) - before)}))
"""

USUAL_WAY_AFTER = r"""
import json
from polysync_vertex.adapters import aiplatform
client_class = aiplatform.client_class("job")
custom_job = aiplatform.message("custom_job", "CustomJob")

from google.cloud import aiplatform_v1
from google.cloud.aiplatform_v1 import types, JobServiceClient
from google.cloud.aiplatform_v1.types import CustomJob
print(json.dumps({
    "same_client": JobServiceClient is client_class and aiplatform_v1.JobServiceClient is client_class,
    "same_type": types.CustomJob is custom_job and CustomJob is custom_job,
    "other_service": aiplatform_v1.DatasetServiceClient.__name__,
    "version": isinstance(aiplatform_v1.__version__, str),
    "all": "JobServiceClient" in aiplatform_v1.__all__,
}))
"""

ALREADY_IMPORTED = r"""
import json
from google.cloud import aiplatform_v1
full = aiplatform_v1
from polysync_vertex.adapters import aiplatform
print(json.dumps({"untouched": aiplatform.client_class("job") is full.JobServiceClient
    and "__getattr__" not in full.__dict__}))
"""

THREADS = r"""
import json, threading
from polysync_vertex.adapters import aiplatform
from polysync_vertex.adapters.vertex import VertexJobs
from polysync_vertex.core import kinds
barrier = threading.Barrier(6)
errors = []
def first(kind):
    barrier.wait()
    try:
        aiplatform.client_class(kind.service)
        VertexJobs._to_proto(kind, {"displayName": "x"})
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=first, args=(k,)) for k in list(kinds.KINDS) * 2]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"errors": errors}))
"""


def run(code: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=FUNCTIONS, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_first_calls_import_only_the_services_of_the_kinds() -> None:
    result = run(FIRST_CALLS)
    assert result["services"] == ["job_service", "pipeline_service"]
    assert result["package_init_ran"] is False
    full = run(FULL_IMPORT)["added"]
    assert isinstance(result["added"], int) and isinstance(full, int)
    # Measured: 576 modules against 978 the usual way (the package __init__s import every service and type).
    assert result["added"] < full * 0.7, (result["added"], full)


def test_the_package_used_the_usual_way_afterwards_is_complete() -> None:
    assert run(USUAL_WAY_AFTER) == {
        "same_client": True,
        "same_type": True,
        "other_service": "DatasetServiceClient",
        "version": True,
        "all": True,
    }


def test_an_already_imported_package_is_left_as_it_is() -> None:
    assert run(ALREADY_IMPORTED) == {"untouched": True}


def test_first_imports_from_several_threads_at_once() -> None:
    assert run(THREADS) == {"errors": []}
