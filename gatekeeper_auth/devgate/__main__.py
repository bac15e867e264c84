"""`python -m gatekeeper_auth.devgate`: serve the development gatekeeper with uvicorn."""

import argparse
import sys

from gatekeeper_auth.devgate import DevGateConfig, create_devgate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m gatekeeper_auth.devgate",
        description="A development API Gatekeeper in front of your API (never for production).",
    )
    parser.add_argument(
        "--config", required=True, help="the TOML file (see example_app/devgate.toml)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--upstream", help="the API's URL; overrides the config's upstream")
    args = parser.parse_args(argv)
    try:
        config = DevGateConfig.load(args.config)
        if args.upstream:
            config = DevGateConfig.model_validate(config.model_dump() | {"upstream": args.upstream})
    except ValueError as error:
        sys.exit(str(error))
    import uvicorn  # only needed to serve: tests mount the app directly

    uvicorn.run(create_devgate(config), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
