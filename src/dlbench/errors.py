"""The one exception type for mistakes a user can fix.

`train.py` prints its message as a single line and exits non-zero, before any training starts,
so every check in the project raises this with one sentence naming the value and a fix.
"""


class ConfigError(ValueError):
    """A bad value or an impossible combination in the user's configuration."""


def require(condition: bool, message: str) -> None:
    """Raise `ConfigError(message)` unless `condition` holds."""
    if not condition:
        raise ConfigError(message)


def find_config_error(error: BaseException) -> ConfigError | None:
    """The ConfigError behind `error`, also when Hydra's `instantiate` wrapped it in its own."""
    while error is not None:
        if isinstance(error, ConfigError):
            return error
        error = error.__cause__ or error.__context__
    return None
