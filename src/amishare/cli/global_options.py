"""Global options before the command: ``amishare --region R show IMAGE`` is ``amishare show IMAGE --region R``.

Every command that talks to AWS takes ``--config``, ``--profile``, ``--region``, ``--endpoint-url``,
``--journal``, ``--output`` and the flags ``-v/--verbose`` and ``--debug`` (``cli/common.py``; the commands that
make no AWS call of their own take the two flags too: ``cli/logs.with_log_flags``); the AWS CLI
takes its global options on either side of the command, and so does amishare. The options given before the
command are moved to just after the command's name (after a group's subcommand: ``runs show``), so one given
after the command as well wins, as a later option does. Only click is imported here: ``amishare --help`` stays light.
"""

from __future__ import annotations

from collections.abc import Callable

import click

GLOBAL_OPTIONS = ("--config", "--profile", "--region", "--endpoint-url", "--journal", "--output")
GLOBAL_FLAGS = ("-v", "--verbose", "--debug")  # global options that take no value


def move_global_options(args: list[str], command_of: Callable[[str], click.Command | None]) -> list[str]:
    """``args`` with the global options (and their values) that come before the command name moved to just
    after it. ``command_of`` names a command's ``click.Command`` (None: not a command). Anything else before
    the command (``--help``, ``--version``, an unknown option) stays where it is, for click to judge."""
    moved: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        name = arg.split("=", 1)[0]
        if arg in GLOBAL_FLAGS:
            moved.append(arg)
            index += 1
            continue
        if name in GLOBAL_OPTIONS:
            takes_next = "=" not in arg and index + 1 < len(args)
            moved += args[index : index + 2] if takes_next else [arg]
            index += 2 if takes_next else 1
            continue
        if arg.startswith("-") or arg == "--":
            rest.append(arg)
            index += 1
            continue
        break  # the command's name
    if not moved or index >= len(args):
        return args  # nothing to move, or no command: click says what is wrong
    command = command_of(args[index])
    after = index + 1
    if isinstance(command, click.Group) and after < len(args) and args[after] in command.commands:
        after += 1  # a group's subcommand: runs show, manifest validate, sandbox serve
    return [*rest, *args[index:after], *moved, *args[after:]]
