"""The command line of a service's key administration in its container (`python -m kim_<service>.key_admin status |
rotate [--batch-size N]`), once for every service that keeps wrapped keys: the arguments, a progress line with the
rate and the time left, and an error (exit 2) instead of a traceback for what an operator can fix."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

Progress = Callable[[int, int], None]


def progress_printer(what: str = "re-wrapped") -> Progress:
    """Prints `done/total re-wrapped, rate keys/s, N s left` to stderr as a rotation reports its batches."""
    started = time.perf_counter()

    def report(done: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        rate = done / elapsed if elapsed else 0.0
        left = f"{(total - done) / rate:.0f} s left" if rate else "time left unknown"
        print(f"{done:,}/{total:,} {what}, {rate:,.0f} keys/s, {left}", file=sys.stderr, flush=True)

    return report


def main(argv: list[str] | None, *, prog: str, description: str, keys: str,
         errors: tuple[type[BaseException], ...], run: Callable[[str, int, Progress], list[str]]) -> int:
    """Parses `status | rotate [--batch-size N]`, calls run(command, batch_size, progress) and prints its lines;
    one of `errors` is printed as `error: ...` with exit code 2."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("command", choices=["status", "rotate"])
    parser.add_argument("--batch-size", type=int, default=500, help=f"{keys} per transaction (default 500)")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    try:
        lines = run(args.command, args.batch_size, progress_printer())
    except errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0
