"""The package itself: its public names, and an import with no extra installed."""

import pytest

import gatekeeper_auth
from tests.helpers import python_without

OPTIONAL = ["httpx", "httpx2", "jwt", "cryptography", "uvicorn", "websockets", "pytest"]


def test_unknown_names_are_still_attribute_errors() -> None:
    with pytest.raises(AttributeError):
        gatekeeper_auth.no_such_name  # noqa: B018


def test_the_package_imports_without_any_extra() -> None:
    result = python_without(
        OPTIONAL,
        """
        import gatekeeper_auth, gatekeeper_auth.testing
        from gatekeeper_auth import *
        try:
            gatekeeper_auth.FeideJWT(audience="https://n.feide.no/datasources/x")
        except gatekeeper_auth.ConfigurationError as error:
            print(error)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'gatekeeper-auth[jwt]'" in result.stdout
