"""Markdown of the benchmarks: tables and the docs/benchmarks.md document, from the measured results."""
