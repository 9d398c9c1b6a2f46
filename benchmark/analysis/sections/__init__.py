"""Report sections: every public file here registers one with ``benchmark.analysis.report.register_section``."""
