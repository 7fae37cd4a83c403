"""A child process for the killed ``split --force`` test (run as a script, not collected).

usage: split_killer.py STEP TCR-ARGS...
Runs ``tcr TCR-ARGS`` in this process and SIGKILLs itself just before the STEP-th file
system call that publishes outputs (``os.link``, ``os.replace``, ``os.unlink``,
``os.fsync``); STEP 0 never, and then prints how many such calls there were. The kill is
the only thing injected: real files, and nothing runs after it.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

CALLS = ("link", "replace", "unlink", "fsync")


def main() -> None:
    step, args = int(sys.argv[1]), sys.argv[2:]
    count = 0

    def counted(real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*a: Any, **kw: Any) -> Any:
            nonlocal count
            count += 1
            if count == step:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*a, **kw)

        return call

    for name in CALLS:
        setattr(os, name, counted(getattr(os, name)))
    from tcr_cli.main import main as tcr

    try:
        tcr(args)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    print(count, file=sys.stderr)


if __name__ == "__main__":
    main()
