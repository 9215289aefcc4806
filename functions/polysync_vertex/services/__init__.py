"""Services compose the core with the adapters; one module per use case."""
