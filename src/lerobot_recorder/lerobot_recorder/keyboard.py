"""Keyboard control of the recorder in a terminal: single keys, no Enter needed (except to type a task)."""

from __future__ import annotations

import contextlib
import sys
import termios
import tty
from collections.abc import Callable, Iterator
from typing import TextIO

HELP = "keys: [space] start/stop  [d] discard  [r] re-record  [t] task text  [q] quit"

# key → command name; the node maps command names to recorder actions.
KEYS = {
    " ": "toggle",
    "s": "toggle",
    "d": "discard",
    "r": "rerecord",
    "t": "task",
    "q": "quit",
    "\x03": "quit",
}


@contextlib.contextmanager
def single_keys(stream: TextIO, restore_only: bool = False) -> Iterator[None]:
    """Deliver keys one by one without echo while inside; the terminal is restored however the block ends.

    With ``restore_only``, the terminal is put back to normal (line input with echo) for the block instead.
    """
    fd = stream.fileno()
    saved = termios.tcgetattr(fd)
    try:
        if not restore_only:
            tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def run_keyboard(
    handle: Callable[[str], bool],
    set_task: Callable[[str], None],
    stream: TextIO = sys.stdin,
    out: TextIO = sys.stderr,
) -> None:
    """Read keys until quit: ``handle(command)`` acts and returns False to end; ``set_task`` takes typed text.

    Call it inside ``single_keys(stream)``; it blocks on the terminal, so run it on a thread of its own.
    """
    out.write(HELP + "\n")
    out.flush()
    while True:
        key = stream.read(1)
        if key == "":  # end of input: nobody is typing any more
            handle("quit")
            return
        command = KEYS.get(key.lower())
        if command == "task":
            out.write("\ntask text: ")
            out.flush()
            with single_keys(stream, restore_only=True):  # normal line editing while typing the task
                set_task(stream.readline().strip())
        elif command is not None and not handle(command):
            return
