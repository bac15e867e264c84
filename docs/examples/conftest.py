"""The fixtures of gatekeeper_auth.testing: `gatekeeper` and `override_caller`."""

pytest_plugins = ["gatekeeper_auth.testing"]
