"""Nothing to register: installing gatekeeper-auth provides the `gatekeeper`
and `override_caller` fixtures through its pytest plugin."""
