"""`.env` files read so that nothing in them is skipped, expanded or changed without a word.

python-dotenv skips a line it cannot parse (with only a log line), expands `${NAME}`, cuts an
unquoted value at white space before `#`, trims it, and decodes escapes in quotes. Here a file
that is not text, or that holds a line that cannot be parsed, is refused; nothing is expanded; and
whether each value is written plainly (read as exactly its text) is recorded, for secrets. A
refusal names the file and the line, never what is written there.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from dotenv.parser import Binding, parse_stream
from pydantic import SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from gatekeeper_auth.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class Entry:
    """One line with a name: `value` is None for a bare `NAME` (no `=`)."""

    name: str
    value: str | None = field(repr=False)
    plain: bool  # python-dotenv reads the value as exactly what is written
    where: str  # "<file>, line <n>"


def paths(env_file: Any) -> list[Path]:
    """The files an `env_file` setting (None, one path or several) names that exist."""
    if env_file is None:
        return []
    named = [env_file] if isinstance(env_file, str | os.PathLike) else list(env_file)
    return [path for path in (Path(name).expanduser() for name in named) if path.is_file()]


def read(path: Path, encoding: str = "utf-8", *, strict: bool = True) -> list[Entry]:
    """The named lines of a file. Strict: `ConfigurationError` for a file that is not text in
    `encoding` or a line that cannot be parsed; otherwise those are passed over (names only)."""
    data = path.read_bytes()
    bad: int | None = None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:  # its message quotes the byte: keep only where it is
        bad = error.start
        text = data.decode(encoding, "replace")
    if bad is not None and strict:
        line = data.count(b"\n", 0, bad) + 1
        raise ConfigurationError(
            f"{path}, line {line}, is not {encoding} text: save the file as {encoding}, with "
            "each secret copied exactly as the dashboard shows it."
        )
    entries = []
    for binding in parse_stream(io.StringIO(text, newline=None)):
        where = f"{path}, line {_line(binding)}"
        if binding.error and strict:
            raise ConfigurationError(
                f"{where}, cannot be parsed (an unclosed quote, or text after a closing one?): "
                "a line passed over could be a setting. Write it as NAME=value or remove it."
            )
        if binding.key is not None and not binding.error:
            written = binding.original.string.partition("=")[2].rstrip("\r\n").lstrip(" \t")
            entries.append(Entry(binding.key, binding.value, _plainly_written(written), where))
    return entries


def refuse_undecodable(env_file: Any, encoding: str) -> None:
    """Raise the `ConfigurationError` for the first of the files that is not text."""
    for path in paths(env_file):
        read(path, encoding)
    raise ConfigurationError(f"A .env file is not {encoding} text: save it as {encoding}.")


class ExactDotEnv(PydanticBaseSettingsSource):
    """The settings source for the `.env` file(s) that `env_file` or `_env_file=` names.

    A secret (any `SecretStr` field) must be written plainly: unquoted with no white space, `#`,
    quote or backslash, or in single quotes with no quote or backslash inside; anything else is
    refused, naming the variable, the file and the line, never the value.
    """

    def __init__(self, settings_cls: type[BaseSettings], dotenv: Any) -> None:
        super().__init__(settings_cls)
        encoding = dotenv.env_file_encoding or "utf-8"
        files = paths(dotenv.env_file)  # what `env_file` or `_env_file=` says
        self.entries = [entry for path in files for entry in read(path, encoding)]

    def __call__(self) -> dict[str, Any]:
        prefix = str(self.config.get("env_prefix", "")).upper()
        fields = self.settings_cls.model_fields
        found: dict[str, str] = {}
        for entry in self.entries:
            name = entry.name.upper()
            setting = name.removeprefix(prefix).lower()
            if not name.startswith(prefix) or setting not in fields:
                continue
            if entry.value is None:
                raise ConfigurationError(
                    f"{name} in {entry.where}, has no value (no '='): write {name}=<value>, or "
                    "remove the line."
                )
            if not entry.plain and _holds_secret(fields[setting].annotation):
                raise ConfigurationError(
                    f"{name} in {entry.where}, is not written plainly: a .env file would change "
                    "it. Write it unquoted (no white space, '#', quote or backslash) or in "
                    "single quotes (no quote or backslash inside), or set it in the environment "
                    "instead."
                )
            found[setting] = entry.value
        return found

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: `__call__` reads the whole file at once


def _holds_secret(annotation: Any) -> bool:
    """Whether a field's type is or contains `SecretStr` (`SecretStr | None`, a list of them)."""
    return annotation is SecretStr or any(_holds_secret(arg) for arg in get_args(annotation))


def _line(binding: Binding) -> int:
    """The line the statement is on: python-dotenv counts from the blank lines before it."""
    string = binding.original.string
    return binding.original.line + string[: len(string) - len(string.lstrip())].count("\n")


def _plainly_written(raw: str) -> bool:
    """Whether python-dotenv reads `raw` (a value as written) as exactly its text."""
    if raw.startswith("'"):
        inner = raw[1:-1]
        return len(raw) >= 2 and raw.endswith("'") and "'" not in inner and "\\" not in inner
    return bool(raw) and not any(c.isspace() or c in "#'\"\\" for c in raw)
