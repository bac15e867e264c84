"""Checked by mypy in `make lint`, never run: a refusal code must be one of `RefusalCode`.

A wrong code fails type checking; if `RefusalCode` stopped catching it, the `type: ignore`
below would be unused, which `mypy --strict` reports.
"""

from gatekeeper_auth import CODES, Refusal, RefusalCode

Refusal("scope_missing", "The token lacks the sub-scope(s): read.")
Refusal("scope_mising", "A misspelled code.")  # type: ignore[arg-type]

code: RefusalCode = "user_token_not_allowed"
status, meaning = CODES[code]
