"""User-facing errors: one line that names the problem and how to fix it, exit code 2.

Every mistake a user can make (a typo in a YAML key, a missing demand folder, a bad line in a
demand file, an action outside the action space, a wrong model file) raises ``UserError``. The
command-line entry points wrap ``main`` in ``run_cli`` so the user sees the message, not a
traceback. Library users in a notebook get an ordinary exception they can catch.
"""
from __future__ import annotations

import sys
from typing import Callable

#: Exit code of a command that was given bad input (2, as argparse uses for usage errors).
EXIT_BAD_INPUT = 2


class UserError(ValueError):
    """Bad input from the user; the message is one line that says what to fix."""


def run_cli(main: Callable[[], int | None]) -> None:
    """Run a command-line ``main``; turn ``UserError`` into one line on stderr and exit code 2."""
    try:
        code = main()
    except UserError as err:
        message = " ".join(str(err).split())  # always exactly one line
        print(f"error: {message}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
