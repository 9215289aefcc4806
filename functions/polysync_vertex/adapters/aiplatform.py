"""The generated `google.cloud.aiplatform_v1` package, imported at the cost of what the adapter uses.

`google/cloud/aiplatform_v1/__init__.py` and `.../types/__init__.py` import all of the API's ~40 services and every
message type: 1.17 s and 499 modules to reach `JobServiceClient`, against 0.17 s and 79 modules for the client and
the types it needs (measured in `bench/cold_start.py`, "JobServiceClient with the package `__init__`s skipped"). A
cold instance pays that on its first Vertex AI call, inside a request.

So, before the first import, both packages are registered as *lazy* packages (PEP 562 module `__getattr__`):
- a submodule (`services`, `types.custom_job`, ...) is imported when asked for, as usual;
- any other attribute (`aiplatform_v1.JobServiceClient`, `types.CustomJob`, `__version__`) first runs the
  package's real `__init__` in the same module object, so code that uses the package the usual way (tests, the
  high-level SDK in a developer's shell) sees the complete package.
Nothing is registered when the package is already imported. Everything here runs under one process-wide lock:
the first imports of two service packages from two threads at once could leave one half-initialised.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types as pytypes
from typing import Any

PACKAGE = "google.cloud.aiplatform_v1"
_LAZY = (PACKAGE, f"{PACKAGE}.types")
# Every first import of a generated module goes through this lock (re-entrant: a lazy package's full load
# imports further modules).
IMPORT_LOCK = threading.RLock()
_prepared = False
_PROBED_DUNDERS = frozenset({"__all__", "__version__"})


def _lazy_package(name: str) -> None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return  # not installed as a regular package: leave the import system to report it
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def __getattr__(attr: str) -> Any:  # noqa: N807 - the PEP 562 hook
        if attr.startswith("__") and attr not in _PROBED_DUNDERS:
            raise AttributeError(attr)
        with IMPORT_LOCK:
            if "__getattr__" in module.__dict__:
                if importlib.util.find_spec(f"{name}.{attr}") is not None:
                    return importlib.import_module(f"{name}.{attr}")
                del module.__dict__["__getattr__"]
                loader.exec_module(module)  # the real __init__, into the same module object
        try:
            return module.__dict__[attr]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}") from None

    module.__dict__["__getattr__"] = __getattr__
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, module)


def _prepare() -> None:
    global _prepared
    if _prepared:
        return
    importlib.import_module("google.cloud")
    for name in _LAZY:
        if name not in sys.modules:
            _lazy_package(name)
    _prepared = True


def module(name: str) -> pytypes.ModuleType:
    """`google.cloud.aiplatform_v1.<name>` (e.g. "services.job_service", "types.custom_job")."""
    with IMPORT_LOCK:
        _prepare()
        return importlib.import_module(f"{PACKAGE}.{name}")


def client_class(service: str) -> Any:
    """The generated client of a kind's service ("job" -> JobServiceClient, "pipeline" -> PipelineServiceClient)."""
    title = "".join(part.title() for part in service.split("_"))
    return getattr(module(f"services.{service}_service"), f"{title}ServiceClient")


def message(module_name: str, type_name: str) -> Any:
    """A message or enum class of `types.<module_name>` (e.g. ("custom_job", "CustomJob"))."""
    return getattr(module(f"types.{module_name}"), type_name)
