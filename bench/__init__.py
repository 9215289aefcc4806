"""Benchmarks of polysync-vertex: cold start, submit path, poll cost and event latency (`python -m bench.run`)."""
