"""The exit codes of every command (docs/cli.md): scripts branch on these, not on messages.

A module of constants only, so that the entry point can know them before any heavy import.
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_UNREACHABLE = 3
#: What the shell shows (``$?``) for a command ended by Ctrl-C: 128 + SIGINT.
EXIT_INTERRUPTED = 130
