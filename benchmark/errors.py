"""Exceptions shared by every layer; the CLI prints them as one clear line."""


class StbenchError(Exception):
    """A user-facing error: bad input, bad config, unknown name. Its message says where and why."""


class ConfigError(StbenchError, ValueError):
    """A configuration (YAML or options) is invalid: names the file/field and the valid choices."""


class DataError(StbenchError):
    """A data source is invalid or unreadable: names the file, line and reason."""


class ModelError(StbenchError, ValueError):
    """An unknown model/module/backbone name or an incompatible checkpoint."""
