"""Built-in run loggers: every public file here registers one with ``benchmark.engine.run_loggers.register_logger``."""
