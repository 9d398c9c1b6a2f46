"""Checkpoint sources: each file registers one :class:`~benchmark.models.published.source.CheckpointSource`."""
