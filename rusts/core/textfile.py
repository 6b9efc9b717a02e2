"""Reading a configuration file's text, with one-line errors that name the file, and naming its values in them."""

import datetime
from typing import Any

import msgspec

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


def describe_value(value: Any, mapping: str) -> str:
    """A decoded YAML or TOML value as a person would name it in a message; `mapping` is what the
    format calls a mapping ("a mapping" in YAML, "a table" in TOML)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "the string " + msgspec.json.encode(value).decode()
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"the date {value.isoformat()}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return mapping
    return type(value).__name__
