"""The documentation's tables, written from the code, so that they cannot drift from it.

`make docs-tables` rewrites each table between its markers; tests/test_docs.py fails when a page
holds another table than the one this writes.

- docs/deployment.md, `<!-- settings table -->`: every `GatekeeperSettings` field, its variable,
  its default and its description, in three tables that say where each goes in code; and
  `GATEKEEPER_FOREIGN`.
- docs/fastapi.md, `<!-- codes table -->`: every refusal code of `CODES`, its status and meaning.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gatekeeper_auth import CODES, GatekeeperSettings

ROOT = Path(__file__).parent.parent
PREFIX = "GATEKEEPER_"
#: The one variable under the prefix that is not a setting: it declares the service's own names.
FOREIGN = (
    f"{PREFIX}FOREIGN",
    "your service's own `GATEKEEPER_` variables, by full name, comma-separated: not refused",
)


def variable(field: str) -> str:
    """The environment variable (and `.env` key) of a settings field."""
    return PREFIX + field.upper()


def keyword(field: str) -> str:
    """Where a setting goes when it is given in code: `FeideJWT(audience=)` for `jwt_audience`,
    `FeideAPI(client_id=)` for `feide_client_id`, else a keyword of `GatekeeperMiddleware` (and
    of `Gatekeeper`)."""
    for prefix, owner in (("jwt_", "FeideJWT"), ("feide_", "FeideAPI")):
        if field.startswith(prefix):
            return f"{owner}({field.removeprefix(prefix)}=)"
    return f"{field}="


def shown(value: Any) -> str:
    """A default as the docs write it: `unset` for none, `true`, `30`, a string in backticks."""
    if value is None or value == []:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def default(field: str) -> str:
    """A settings field's default, as `shown` writes it."""
    return shown(GatekeeperSettings.model_fields[field].get_default(call_default_factory=True))


#: The settings in three tables: (field prefix, caption). The caption says where they go in code.
GROUPS = [
    (
        "",
        "**The gatekeeper path**, also keywords of `GatekeeperMiddleware` and `Gatekeeper`, "
        "named in lower case (`password=`):",
    ),
    ("jwt_", "**Feide JWTs**, also `FeideJWT`'s options, named without the prefix (`audience=`):"),
    (
        "feide_",
        "**Feide's groups API and userinfo**, also `FeideAPI`'s options, named without the "
        "prefix (`client_id=`):",
    ),
]


def group(field: str) -> str:
    """The prefix of a field's table: the longest that it starts with."""
    return max((prefix for prefix, _ in GROUPS if field.startswith(prefix)), key=len)


def settings_table() -> str:
    tables = []
    for prefix, caption in GROUPS:
        rows = [caption, "", "| variable | default | meaning |", "| --- | --- | --- |"]
        for name, info in GatekeeperSettings.model_fields.items():
            if group(name) == prefix:
                rows.append(f"| `{variable(name)}` | {default(name)} | {info.description} |")
        if prefix == "":
            rows.append(f"| `{FOREIGN[0]}` | unset | {FOREIGN[1]} |")
        tables.append("\n".join(rows) + "\n")
    return "\n".join(tables)


def codes_table() -> str:
    rows = ["| code | status | meaning |", "| --- | --- | --- |"]
    rows += [f"| `{code}` | {status} | {meaning} |" for code, (status, meaning) in CODES.items()]
    return "\n".join(rows) + "\n"


#: (page, marker, what is written between `<!-- marker -->` and `<!-- /marker -->`).
TABLES: list[tuple[str, str, Callable[[], str]]] = [
    ("docs/deployment.md", "settings table", settings_table),
    ("docs/fastapi.md", "codes table", codes_table),
]


def between(marker: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- {marker} -->\n)(.*?)(<!-- /{marker} -->\n)", re.DOTALL)


def written(page: str, marker: str) -> str:
    """What a page holds between its markers now."""
    found = between(marker).search((ROOT / page).read_text())
    if found is None:
        raise SystemExit(f"{page} has no <!-- {marker} --> ... <!-- /{marker} --> markers")
    return found[2]


def main() -> None:
    for page, marker, render in TABLES:
        path = ROOT / page
        text = path.read_text()
        old = written(page, marker)  # exits, naming the page, if the markers are missing
        new = text.replace(f"<!-- {marker} -->\n{old}", f"<!-- {marker} -->\n{render()}", 1)
        if new != text:
            path.write_text(new)
            print(f"{page}: {marker} rewritten", file=sys.stderr)


if __name__ == "__main__":
    main()
