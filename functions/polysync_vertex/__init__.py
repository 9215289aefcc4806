"""polysync-vertex: run Vertex AI Custom Jobs from the Polysync workload orchestrator."""

__version__ = "0.1.0"
