"""A local Vertex AI v1 REST server: customJobs, pipelineJobs, batchPredictionJobs (see docs/emulator.md)."""

from .admin import AdminClient
from .server import EmulatorServer

__all__ = ["AdminClient", "EmulatorServer"]
__version__ = "0.1.0"
