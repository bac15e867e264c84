"""`python -m gatekeeper_auth.devgate`: serve the development gatekeeper with uvicorn."""

from __future__ import annotations

import argparse
import sys
from importlib.resources import files

from gatekeeper_auth.devgate.config import DevGateConfig
from gatekeeper_auth.devgate.extras import MissingExtra


def example_config() -> str:
    """The commented example configuration shipped in the package (`--example-config`)."""
    return files("gatekeeper_auth.devgate").joinpath("example.toml").read_text("utf-8")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gatekeeper_auth.devgate",
        description=(
            "A development API Gatekeeper in front of your API (never for production). "
            "Start with: python -m gatekeeper_auth.devgate --example-config > devgate.toml"
        ),
    )
    parser.add_argument(
        "--config", help="the TOML file (--example-config prints one to start from)"
    )
    parser.add_argument(
        "--example-config", action="store_true", help="print a commented example config and exit"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    parser.add_argument("--upstream", help="the API's URL; overrides the config's upstream")
    parser.add_argument(
        "--grants",
        help="the API's user-id grants, comma separated (userid,userid-feide,userid-nin); "
        "overrides the config's grants, and each data source's (userid or none); '' for none",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.example_config:
        sys.stdout.write(example_config())
        return
    if not args.config:
        sys.exit(
            "--config is required: python -m gatekeeper_auth.devgate --example-config "
            "> devgate.toml writes one to start from"
        )
    try:
        config = DevGateConfig.load(args.config)
        changes: dict[str, object] = {}
        if args.upstream:
            changes["upstream"] = args.upstream
        if args.grants is not None:
            grants = [g.strip() for g in args.grants.split(",") if g.strip()]
            changes["grants"] = grants
            # The API on the JWT path is its data source: it gets the user id in sub or not.
            changes["datasources"] = [
                source | {"grants": [g for g in grants if g == "userid"]}
                for source in config.model_dump()["datasources"]
            ]
        if changes:
            config = DevGateConfig.model_validate(config.model_dump() | changes)
    except ValueError as error:
        sys.exit(str(error))
    try:
        from gatekeeper_auth.devgate import create_devgate

        app = create_devgate(config)
        import uvicorn

        from gatekeeper_auth.devgate.server import uvicorn_config
    except (MissingExtra, ValueError) as error:  # ValueError: an unusable signing_key_file
        sys.exit(str(error))
    uvicorn.Server(uvicorn_config(app, host=args.host, port=args.port)).run()


if __name__ == "__main__":
    main()
