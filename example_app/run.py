"""`make run`: serve the example service on 127.0.0.1:8001."""

import uvicorn


def main() -> None:
    uvicorn.run("example_app.main:app", host="127.0.0.1", port=8001)


if __name__ == "__main__":
    main()
