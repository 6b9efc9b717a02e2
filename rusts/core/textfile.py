"""Reading a configuration file's text, with one-line errors that name the file."""

from rusts.core.errors import ConfigError


def read_config_text(path: str, kind: str) -> str:
    """The UTF-8 text of the `kind` (YAML, TOML) file at `path`, or ConfigError saying why not."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        raise ConfigError(path, "", "no such file") from None
    except IsADirectoryError:
        raise ConfigError(path, "", f"is a directory, expected a {kind} file") from None
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, "", f"not UTF-8 text (byte {exc.start})") from None
