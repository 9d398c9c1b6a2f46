"""backbones: every file here is imported by benchmark.models.registry.load_plugins()."""
