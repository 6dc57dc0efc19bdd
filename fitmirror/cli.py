"""`fitmirror` command line. Each subcommand lives with the stage it drives and is imported only when used,
so `fitmirror --help` and `fitmirror doctor` start fast."""

from __future__ import annotations

import importlib
import sys

from fitmirror.errors import FitmirrorError

# name -> (module with `main(argv: list[str]) -> int`, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("server.cli", "start the fitting-room server (WebRTC, API, web client)"),
    "nlu": ("nlu.cli", "parse a text or spoken outfit command into actions"),
    "avatar": ("avatar.cli", "fit a body to a photo or to typed measurements"),
    "size": ("avatar.sizing.cli", "train, evaluate and query the size and fit recommender"),
    "bench": ("fitmirror.bench", "run a checkout's benchmarks/; writes bench/results.json and bench/RESULTS.md"),
    "doctor": ("fitmirror.doctor", "check every component and say what is missing and why"),
    "setup": ("fitmirror.setup_cmd", "assemble models and build caches (run by `make run` / `make test`)"),
}


def _usage() -> str:
    lines = ["usage: fitmirror <command> [options]", "", "commands:"]
    lines += [f"  {name:<8} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run `fitmirror <command> --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from fitmirror import __version__

        print(f"fitmirror {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"fitmirror: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    from fitmirror.config import get_settings
    from fitmirror.log import setup_logging

    s = get_settings()
    setup_logging(s.log_level, s.log_json)
    module = importlib.import_module(COMMANDS[name][0])
    try:
        return int(module.main(rest) or 0)
    except FitmirrorError as e:
        print(f"fitmirror {name}: error: {e.message}", file=sys.stderr)
        if e.hint:
            print(f"  hint: {e.hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
