"""The instance's server process: `python -m attest.instance.daemon --state DIR [--ttl S]`."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from attest.cli import exit_code_for
from attest.instance.server import Instance, serve
from attest.instance.state import load_state
from verify.errors import AttestError


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="attest-instance")
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--ttl", type=float, default=None, help="stop after this many seconds")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    try:
        state = load_state(args.state)
        instance = Instance(state)
    except AttestError as e:  # a line for `instance up` to show, not a traceback
        print(f"attest instance: {e}", file=sys.stderr)
        raise SystemExit(exit_code_for(e)) from e  # the CLI's one mapping
    print(f"attest instance serving {state.base_url} from {args.state}", file=sys.stderr)
    serve(instance, stop_after=args.ttl)


if __name__ == "__main__":
    main()
