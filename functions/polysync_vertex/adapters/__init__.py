"""Thin adapters, one per Google Cloud service. Heavy client libraries are imported lazily."""
