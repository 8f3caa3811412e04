"""Command line entry point (the full subcommands arrive with the scenario work)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("tui-trainer: the app is not built yet; the engine is usable from Python.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
