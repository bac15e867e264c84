"""The names in the environment and the `.env` files, read so that nothing is skipped, expanded,
hidden or changed without a word.

python-dotenv skips a line it cannot parse (with only a log line), expands `${NAME}`, cuts an
unquoted value at white space before `#`, trims it, decodes escapes in quotes, lets a quote left
open take in the lines after it, and lets the last of two lines win. Here a file that is not
text, a line that cannot be parsed or is not `NAME=value`, a `GATEKEEPER_` value written over
several lines (or one that takes in a `GATEKEEPER_` line) and a name given twice are refused;
nothing is expanded; and whether each value is written plainly (read as exactly its text) is
known, for secrets. A refusal names the file and the line, never what is written there, and
quotes a name only when it is one.
"""

from __future__ import annotations

import difflib
import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from dotenv.parser import Binding, parse_stream
from pydantic import SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from gatekeeper_auth.errors import ConfigurationError

#: A name as POSIX shells write one; anything else is never quoted (it could hold a value).
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: `GATEKEEPER_FOREIGN=GATEKEEPER_URL,...`: the service's own names, which share the prefix.
_FOREIGN = "FOREIGN"
#: What may come before a name on a line of `.env`.
_BEFORE_NAME = re.compile(r"^\s*(export\s+)?['\"]?")
_IN_ENVIRONMENT = "in the environment"


@dataclass(frozen=True, slots=True)
class Entry:
    """One line with a name: `value` is None for a bare `NAME` (no `=`)."""

    name: str
    value: str | None = field(repr=False)
    written: str = field(repr=False)  # the value as written, quotes and line breaks included
    where: str  # "<file>, line <n>"

    @property
    def plain(self) -> bool:
        """Whether python-dotenv reads the value as exactly what is written."""
        return _plainly_written(self.written)


def paths(env_file: Any) -> list[Path]:
    """The files an `env_file` setting (None, one path or several) names that exist."""
    if env_file is None:
        return []
    named = [env_file] if isinstance(env_file, str | os.PathLike) else list(env_file)
    return [path for path in (Path(name).expanduser() for name in named) if path.is_file()]


def read(path: Path, encoding: str = "utf-8", *, strict: bool = True) -> list[Entry]:
    """The named lines of a file. Strict: `ConfigurationError` for a file that is not text in
    `encoding` or a line that cannot be parsed or is not `NAME=value`; otherwise those are passed
    over (names only)."""
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
        line = _line(binding)
        if binding.error and strict:
            raise ConfigurationError(
                f"{path}, line {line}, cannot be parsed (an unclosed quote, or text after a "
                "closing one?): a line passed over could be a setting. Write it as NAME=value or "
                "remove it."
            )
        if binding.key is None or binding.error:
            continue
        if not _NAME.fullmatch(binding.key):  # `GATEKEEPER_PASSWORD:<secret>`: quote nothing
            if strict:
                raise ConfigurationError(
                    f"Line {line} of {path} is not NAME=value (a NAME is ASCII letters, digits "
                    "and _, and does not begin with a digit): correct the line or remove it."
                )
            continue
        written = binding.original.string.partition("=")[2].rstrip("\r\n").lstrip(" \t")
        entries.append(Entry(binding.key, binding.value, written, f"{path}, line {line}"))
    return entries


def refuse_undecodable(env_file: Any, encoding: str) -> None:
    """Raise the `ConfigurationError` for the first of the files that is not text."""
    for path in paths(env_file):
        read(path, encoding)
    raise ConfigurationError(f"A .env file is not {encoding} text: save it as {encoding}.")


class ExactDotEnv(PydanticBaseSettingsSource):
    """The settings source for the `.env` file(s) that `env_file` or `_env_file=` names.

    A secret (any `SecretStr` field) must be written plainly: unquoted with no white space, `#`,
    quote or backslash, or in single quotes with no quote, backslash or line break inside;
    anything else is refused, naming the variable, the file and the line, never the value.
    """

    def __init__(self, settings_cls: type[BaseSettings], dotenv: Any) -> None:
        super().__init__(settings_cls)
        encoding = dotenv.env_file_encoding or "utf-8"
        self.prefix = str(self.config.get("env_prefix", "")).upper()
        self.entries = []
        for path in paths(dotenv.env_file):  # what `env_file` or `_env_file=` says
            entries = read(path, encoding)
            _refuse_hiding(self.prefix, entries)
            _refuse_twice(_prefixed(self.prefix, [(e.name, f"in {e.where}") for e in entries]))
            self.entries += entries  # a later file overrides an earlier one, as documented

    def __call__(self) -> dict[str, Any]:
        fields = self.settings_cls.model_fields
        found: dict[str, str] = {}
        for entry in self.entries:
            name = entry.name.upper()
            setting = name.removeprefix(self.prefix).lower()
            if not name.startswith(self.prefix) or setting not in fields:
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

    def refuse_unknown(self, known: Iterable[str]) -> None:
        """Refuse what the environment and these files name with the prefix but cannot mean:
        a name that is not one, one name twice, or a name that is neither in `known` nor
        declared foreign."""
        if self.prefix:
            _refuse_unknown(self.prefix, {self.prefix + n.upper() for n in known}, self.entries)


def environment_names(prefix: str, env_file: Any) -> list[str]:
    """The prefixed names the environment and `env_file` set, but those declared foreign and
    those that are not names; never raises."""
    entries = [entry for path in paths(env_file) for entry in read(path, strict=False)]
    found, foreign = _found(prefix, entries)
    return [name for name, _ in found if name.upper() not in foreign and _NAME.fullmatch(name)]


def refuse_keywords(given: Iterable[str], known: Iterable[str]) -> None:
    """Refuse keyword options that are not settings, naming the closest: a misspelt one would
    be ignored, and its default (`userid_grant=True`) used."""
    names = sorted(known)
    unknown = sorted(set(given) - set(names))
    if not unknown:
        return
    said = []
    for name in unknown:
        if not _NAME.fullmatch(name):
            said.append("A keyword that is not a Python name is not a gatekeeper-auth setting.")
            continue
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean {close[0]}=?" if close else "."
        said.append(f"{name}= is not a gatekeeper-auth setting{hint}")
    raise ConfigurationError(
        " ".join(said) + " A misspelt option would be ignored and its default used: correct or "
        "remove it."
    )


def _found(prefix: str, entries: list[Entry]) -> tuple[list[tuple[str, str]], set[str]]:
    """`(name, where)` for each variable and `.env` key that starts with `prefix` in any case
    (as pydantic matches them); and the names not to check: `<prefix>FOREIGN` and its list."""
    declaration = prefix + _FOREIGN
    found = _prefixed(prefix, [(name, _IN_ENVIRONMENT) for name in os.environ])
    found += _prefixed(prefix, [(entry.name, f"in {entry.where}") for entry in entries])
    lists = [value for name, value in os.environ.items() if name.upper() == declaration]
    lists += [entry.value or "" for entry in entries if entry.name.upper() == declaration]
    listed = {item.strip().upper() for value in lists for item in value.split(",")}
    return found, {declaration, *listed} - {""}


def _prefixed(prefix: str, named: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, where) for name, where in named if name.upper().startswith(prefix)]


def _refuse_unknown(prefix: str, known: set[str], entries: list[Entry]) -> None:
    """Refuse every prefixed name that is neither a setting nor declared foreign, naming the
    closest setting: a misspelt one would be ignored, and its default (`userid_grant=true`)
    used. A declaration that lists a setting, or something that is not a prefixed name, too."""
    found, foreign = _found(prefix, entries)
    if any(not _NAME.fullmatch(name) for name, _ in found):  # only the environment's can be
        raise ConfigurationError(
            f"A variable in the environment begins with {prefix} but is not a NAME (ASCII "
            "letters, digits and _), so it can be no setting: remove it from the environment."
        )
    _refuse_twice([(name, where) for name, where in found if where == _IN_ENVIRONMENT])
    declaration = prefix + _FOREIGN
    for item in sorted(foreign):
        if not item.startswith(prefix):  # not quoted: it could be a value pasted by mistake
            raise ConfigurationError(
                f"{declaration} lists something that is not a {prefix} name: list only your "
                f"service's own {prefix}* variables, by full name, comma-separated."
            )
        if item in known:
            raise ConfigurationError(
                f"{declaration} lists {item}, a gatekeeper-auth setting: remove it from the list."
            )
    unknown = [(name, where) for name, where in found if name.upper() not in known | foreign]
    if not unknown:
        return
    suffixes = sorted([name.removeprefix(prefix) for name in known] + [_FOREIGN])
    said = []
    for name, where in unknown:
        close = difflib.get_close_matches(name.upper().removeprefix(prefix), suffixes, n=1)
        hint = f"; did you mean {prefix}{close[0]}?" if close else "."
        said.append(f"{name} ({where}) is not a gatekeeper-auth setting{hint}")
    names = ",".join(sorted({name for name, _ in unknown}))
    raise ConfigurationError(
        " ".join(said) + f" The {prefix} prefix is gatekeeper-auth's, so that a misspelt "
        "setting stops the start instead of being ignored: correct or remove the name, or, "
        f"for a variable of your service's own, declare it: {declaration}={names}"
    )


def _refuse_twice(found: list[tuple[str, str]]) -> None:
    """Refuse a name given twice in one source, in any case: which one wins would depend on
    their order (in the environment, on an order nobody sees)."""
    seen: dict[str, tuple[str, str]] = {}
    for name, where in found:
        if name.upper() not in seen:
            seen[name.upper()] = (name, where)
            continue
        first = seen[name.upper()]
        if where == _IN_ENVIRONMENT:
            both = f"{' and '.join(sorted([first[0], name]))} ({where})"
        else:
            both = f"{first[0]} ({first[1]}) and {name} ({where})"
        raise ConfigurationError(
            f"{both} are one name, given twice (names are read in any case): keep one of them."
        )


def _refuse_hiding(prefix: str, entries: list[Entry]) -> None:
    """Refuse a prefixed value written over several lines, and any value whose later lines
    begin with the prefix: a quote left open takes in the lines after it, settings included."""
    for entry in entries:
        later = [_BEFORE_NAME.sub("", line) for line in entry.written.split("\n")[1:]]
        if entry.name.upper().startswith(prefix) and later:
            raise ConfigurationError(
                f"{entry.name} in {entry.where}, is written over several lines (a quote left "
                f"open?), so it takes in the lines after it: write each {prefix}* value on one "
                "line."
            )
        if any(line.upper().startswith(prefix) for line in later):
            raise ConfigurationError(
                f"{entry.name} in {entry.where}, is written over several lines and takes in a "
                f"{prefix}* line after it (a quote left open?): close the quote on the line it "
                "opens."
            )


def _holds_secret(annotation: Any) -> bool:
    """Whether a field's type is or contains `SecretStr` (`SecretStr | None`, a list of them)."""
    return annotation is SecretStr or any(_holds_secret(arg) for arg in get_args(annotation))


def _line(binding: Binding) -> int:
    """The line the statement is on: python-dotenv counts from the blank lines before it."""
    string = binding.original.string
    return binding.original.line + string[: len(string) - len(string.lstrip())].count("\n")


def _plainly_written(raw: str) -> bool:
    """Whether python-dotenv reads `raw` (a value as written) as exactly its text; a value
    over several lines never is."""
    if "\n" in raw:
        return False
    if raw.startswith("'"):
        inner = raw[1:-1]
        return len(raw) >= 2 and raw.endswith("'") and "'" not in inner and "\\" not in inner
    return bool(raw) and not any(c.isspace() or c in "#'\"\\" for c in raw)
