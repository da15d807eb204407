"""For every test: Ctrl-C behaves as at a terminal, whoever started pytest.

A background job of a non-interactive shell (`bash -c '... &'`, a CI runner's detached step) starts
with SIGINT ignored, and an ignored signal stays ignored across exec: the CLIs our tests interrupt
would never see the Ctrl-C they send (`logs -f` ran on), and the unit tests of our own handlers
would restore "ignored". Python's own handler here makes each child start with the default one.
"""

from __future__ import annotations

import signal

if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
