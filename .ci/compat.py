"""Run the test suite on the declared floors and on the newest releases, on each Python found.

`make compat` runs every Python from 3.11 to 3.13 found on this machine, each with the lowest
versions pyproject.toml allows for its direct dependencies (uv's `--resolution lowest-direct`)
and with the newest; `make compat-lowest` (CI) runs the floors on this Python only. Both also run
tests/starlette_only.py where FastAPI is not installed. Each run is a scratch venv under
build/compat/ (ignored by git), made anew each time. Exits non-zero when any run fails; a Python
not found is skipped, and the summary says so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHONS = ("3.11", "3.12", "3.13")  # the classifiers in pyproject.toml say the same
EXTRAS = "client,jwt,devgate"
RESOLUTIONS = ("lowest-direct", "highest")
# Printed after each install, so that the log shows which versions the suite ran with.
WATCHED = (
    "starlette",
    "fastapi",
    "pydantic",
    "pydantic-settings",
    "python-dotenv",
    "httpx2",
    "pyjwt",
    "cryptography",
    "uvicorn",
    "websockets",
    "pytest",
)


def find_python(minor: str) -> Path | None:
    """`python3.X` on PATH if it runs (a pyenv shim for a version not selected does not), else
    the newest pyenv build of it."""
    candidates: list[Path] = []
    on_path = shutil.which(f"python{minor}")
    if on_path:
        candidates.append(Path(on_path))
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += sorted(
        pyenv.glob(f"{minor}.*/bin/python{minor}"),
        key=lambda p: [int(n) for n in p.parent.parent.name.split(".") if n.isdigit()],
        reverse=True,
    )
    for candidate in candidates:
        probe = subprocess.run(  # noqa: S603
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2], sys.executable)"],
            capture_output=True,
            text=True,
            check=False,
        )
        version, _, executable = probe.stdout.strip().partition(" ")
        if probe.returncode == 0 and version == minor:
            return Path(executable)
    return None


def uv(*args: str | Path) -> list[str | Path]:
    return [sys.executable, "-m", "uv", *args]


def install(venv: Path, python: Path, *requirements: list[str | Path]) -> dict[str, str] | None:
    """A fresh venv with each list of requirements installed in turn; the environment to run
    in, or None when an install failed."""
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": str(venv)}
    env.pop("PYTHONPATH", None)
    target = ("--python", venv / "bin" / "python")  # else `python -m uv` picks the running one
    steps = [uv("venv", "--quiet", "--clear", "--python", python, venv)]
    steps += [uv("pip", "install", "--quiet", *target, *step) for step in requirements]
    for step in steps:
        if subprocess.run(step, cwd=ROOT, env=env, check=False).returncode != 0:  # noqa: S603
            return None
    listed = subprocess.run(  # noqa: S603
        uv("pip", "list", *target, "--format", "freeze"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    versions = [line for line in listed if line.split("==")[0].lower() in WATCHED]
    print("installed: " + " ".join(versions), flush=True)
    return env


def suite(python: Path, minor: str, resolution: str, pytest_args: list[str]) -> bool:
    """The whole test suite, every extra and the dev group installed at `resolution`."""
    venv = ROOT / "build" / "compat" / f"py{minor}-{resolution}"
    print(f"\n=== Python {minor} ({python}), {resolution} ===", flush=True)
    everything: list[str | Path] = ["--resolution", resolution, "-e", f".[{EXTRAS}]"]
    env = install(venv, python, [*everything, "--group", "dev"])
    if env is None:
        return False
    tests: list[str | Path] = [venv / "bin" / "python", "-m", "pytest", "-p", "no:cacheprovider"]
    if resolution == "highest":  # what the newest releases deprecate, we hear of at once
        tests += ["-W", "error::DeprecationWarning", "-W", "error::PendingDeprecationWarning"]
    tests += pytest_args
    return subprocess.run(tests, cwd=ROOT, env=env, check=False).returncode == 0  # noqa: S603


def starlette_only(python: Path, minor: str) -> bool:
    """A Starlette service where FastAPI was removed: the package on its floors, with httpx
    (Starlette's TestClient) and pytest (the plugin loads in every pytest run)."""
    venv = ROOT / "build" / "compat" / f"py{minor}-starlette-only"
    print(f"\n=== Python {minor} ({python}), Starlette only (no FastAPI) ===", flush=True)
    env = install(venv, python, ["--resolution", "lowest-direct", "-e", "."], ["httpx", "pytest"])
    if env is None:
        return False
    # FastAPI is a dependency; a Starlette service that removed it must still run.
    target = ("--python", venv / "bin" / "python")
    removed = uv("pip", "uninstall", "--quiet", *target, "fastapi")
    if subprocess.run(removed, cwd=ROOT, env=env, check=False).returncode != 0:  # noqa: S603
        return False
    script: list[str | Path] = [venv / "bin" / "python", "tests/starlette_only.py"]
    ran = subprocess.run(  # noqa: S603
        script, cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    print(ran.stdout + ran.stderr, end="", flush=True)
    if ran.returncode != 0:
        return False
    seen = json.loads(ran.stdout)
    statuses = [seen[name]["status"] for name in ("system", "anonymous", "user")]
    return statuses == [200, 401, 403] and seen["fastapi imported"] is False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--lowest-only",
        action="store_true",
        help="only the floors, on the Python running this script (what CI runs)",
    )
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest")
    options = parser.parse_args()

    plan: list[tuple[str, Path, tuple[str, ...]]]
    if options.lowest_only:
        minor = f"{sys.version_info.major}.{sys.version_info.minor}"
        plan = [(minor, Path(sys.executable), ("lowest-direct",))]
        missing: list[str] = []
    else:
        found = {minor: find_python(minor) for minor in PYTHONS}
        plan = [(minor, path, RESOLUTIONS) for minor, path in found.items() if path]
        missing = [minor for minor, path in found.items() if path is None]
        print("Pythons found: " + ", ".join(f"{m} ({p})" for m, p, _ in plan))
        for minor in missing:
            print(f"Python {minor}: not found (python{minor} on PATH, ~/.pyenv/versions): skipped")

    results: list[tuple[str, str, bool, float]] = []
    for minor, python, resolutions in plan:
        for resolution in resolutions:
            started = time.monotonic()
            passed = suite(python, minor, resolution, options.pytest_args)
            results.append((minor, resolution, passed, time.monotonic() - started))
    if plan:
        minor, python, _ = plan[0]
        started = time.monotonic()
        passed = starlette_only(python, minor)
        results.append((minor, "starlette-only", passed, time.monotonic() - started))

    print("\n=== compat summary ===")
    for minor, resolution, passed, seconds in results:
        verdict = "passed" if passed else "FAILED"
        print(f"Python {minor:<5} {resolution:<14} {verdict} in {seconds:.0f} s")
    for minor in missing:
        print(f"Python {minor:<5} skipped: not found on this machine")
    return 0 if results and all(passed for *_, passed, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
