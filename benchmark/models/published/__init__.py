"""Published checkpoints of the official codebases: one importer per source (``sources/``, one file
each), the weights file stbench writes from them, the shipped list of released checkpoints and their
download. See docs/published_weights.md."""
