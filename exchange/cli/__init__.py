"""The ``exchange`` command. Each subcommand group lives in its own module
with a ``register(subparsers)`` function; handlers return an exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from ..core.errors import ExchangeError
from ..logs import configure_logging

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    from . import audit, bench, directory, evidence, node, retention, storage

    parser = argparse.ArgumentParser(
        prog="exchange",
        description="Secure exchange of investigative information requests.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (node, directory, audit, evidence, retention, storage, bench):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging("console")  # to stderr; `exchange node` sets its own format
    handler: Handler = args.handler
    try:
        return handler(args)
    except ExchangeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError) as exc:
        detail = f"{exc.strerror}: {exc.filename}" if exc.strerror else str(exc)
        print(f"error: {detail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
