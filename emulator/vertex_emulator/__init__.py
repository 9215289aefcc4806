"""A local server of the Vertex AI v1 REST API for CustomJobs (stdlib only)."""

from .admin import AdminClient
from .server import EmulatorServer

__all__ = ["AdminClient", "EmulatorServer"]
__version__ = "0.1.0"
