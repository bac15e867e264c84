"""`FakeFeideIssuer` and the `feide_issuer` fixture on an install without the jwt extra: the
error names the extra, not a bare ModuleNotFoundError."""

from pathlib import Path

import pytest

from tests.helpers import python_without

HINT = "pip install 'gatekeeper-auth[jwt]'"


@pytest.mark.parametrize("missing", ["cryptography", "jwt", "httpx2"])
def test_building_the_fake_issuer_without_the_jwt_extra_names_it(missing: str) -> None:
    result = python_without(
        {missing},
        """
        from gatekeeper_auth import ConfigurationError
        from gatekeeper_auth.testing import FakeFeideIssuer
        try:
            FakeFeideIssuer()
        except ConfigurationError as error:
            print(error)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"FakeFeideIssuer needs PyJWT with cryptography and httpx2 ({missing} is missing): {HINT}"
    )


def test_the_feide_issuer_fixture_without_the_jwt_extra_names_it(tmp_path: Path) -> None:
    result = python_without(
        {"cryptography"},
        f"""
        import pathlib, sys, pytest
        test = pathlib.Path({str(tmp_path)!r}) / "test_mine.py"
        test.write_text("def test_mint(feide_issuer):\\n    assert feide_issuer.mint()\\n")
        sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", str(test)]))
        """,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 error" in result.stdout
    assert (
        f"ConfigurationError: FakeFeideIssuer needs PyJWT with cryptography and httpx2 "
        f"(cryptography is missing): {HINT}" in result.stdout
    )
