"""The AWS CLI's own parser (``awscli``, a test dependency) judging an ``aws ...`` command amishare prints or its docs
show, without sending anything.

``parse`` runs the command through the AWS CLI as a user would (its argument parser, its shorthand and
``file://`` parameters, then botocore's validation of the request it builds) and stops it at the moment it would
send the request: a command that gets there parses, one that does not says why, in the AWS CLI's words.
``mention`` checks a command named in prose (``aws kms enable-key``, the arguments left out): its service and
operation exist, and so does each option it names. ``run`` runs one for real, on the local AWS.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from awscli.clidriver import create_clidriver


class _Sent(Exception):
    """Raised where the AWS CLI would send its request: everything before it was parsed and validated."""


_SENT: list[str] = []  # the operations whose request was built, in order


@functools.cache
def _driver() -> Any:
    driver = create_clidriver()
    driver.session.register("before-call", _stop)
    return driver


def _stop(model: Any, **_: Any) -> None:
    _SENT.append(model.name)
    raise _Sent(model.name)


_EXAMPLE = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
}


@contextlib.contextmanager
def _isolated(cwd: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    """No profile, config or credentials of this machine; a region and credentials (``env``, default example
    ones); ``cwd`` as the directory (``file://``)."""
    saved, here = dict(os.environ), Path.cwd()
    for name in [n for n in os.environ if n.startswith("AWS_") and n != "AWS_DATA_PATH"]:  # awscli's own data
        del os.environ[name]
    os.environ.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, **(env or _EXAMPLE))
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(here)
        os.environ.clear()
        os.environ.update(saved)


def parse(words: list[str], cwd: Path) -> str | None:
    """None when the AWS CLI takes ``aws WORDS`` (``words`` without the leading ``aws``) up to sending its request;
    else what the AWS CLI said."""
    driver = _driver()
    said = io.StringIO()
    sent = len(_SENT)
    with _isolated(cwd), contextlib.redirect_stderr(said), contextlib.redirect_stdout(io.StringIO()):
        try:
            driver.main(list(words))
        except _Sent:  # a customization that lets it through: the request was built all the same
            pass
        except SystemExit as exc:
            return f"exit {exc.code}: {_last(said.getvalue())}"
    if len(_SENT) > sent:
        return None
    return _last(said.getvalue()) or "the AWS CLI built no request"


def _last(said: str) -> str:
    """The AWS CLI's complaint: its last line (the usage it prints first is the same for every command)."""
    lines = [line for line in said.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def mention(words: list[str]) -> str | None:
    """None when ``aws WORDS`` names a service and operation (or a command of the AWS CLI's own, such as ``deploy``
    or ``wait image-available``) that exist, with options that exist; else what is wrong."""
    driver = _driver()
    with _isolated(Path.cwd()):
        services = driver._get_command_table()
        globals_ = set(driver._get_argument_table())
        names = [w for w in words if not w.startswith("-")]
        if not names or names[0] not in services:
            return f"no AWS CLI service {names[0] if names else ''!r}"
        command = services[names[0]]
        for name in names[1:]:
            table = _subcommands(command)
            if table is None or name not in table:
                break
            command = table[name]
        # a service needs an operation; a command of the AWS CLI's own may stand alone (aws configure)
        if command is services[names[0]] and (len(names) > 1 or hasattr(command, "_get_command_table")):
            return f"no operation {names[1] if len(names) > 1 else ''!r} in aws {names[0]}"
        known = set(_arguments(command)) | globals_
        unknown = [w for w in words if w.startswith("--") and w[2:].split("=")[0] not in known]
        return f"unknown options {unknown}" if unknown else None


def _subcommands(command: Any) -> dict[str, Any] | None:
    if hasattr(command, "_get_command_table"):
        return dict(command._get_command_table())
    table = getattr(command, "subcommand_table", None)
    return dict(table) if table else None


def _arguments(command: Any) -> dict[str, Any]:
    table = getattr(command, "arg_table", None)
    return dict(table) if table else {}


_RUNNERS: dict[str, Any] = {}  # access key id -> its AWS CLI: the AWS CLI keeps the credentials it first read


def run(words: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    """Run ``aws WORDS`` for real with the environment ``env`` (credentials, ``AWS_ENDPOINT_URL``, the default
    region) in ``cwd``: its exit code, standard output and standard error. No retry: a refusal is answered once."""
    env = {"AWS_MAX_ATTEMPTS": "1", **env}
    driver = _RUNNERS.get(env["AWS_ACCESS_KEY_ID"])
    if driver is None:
        driver, first = create_clidriver(), next(iter(_RUNNERS.values()), None)
        if first is not None:  # the service models, loaded once (the EC2 model takes ~0.2 s)
            driver.session.register_component("data_loader", first.session.get_component("data_loader"))
        _RUNNERS[env["AWS_ACCESS_KEY_ID"]] = driver
    for name in ("region", "profile"):  # what an earlier command's --region or --profile left on its session
        driver.session.set_config_variable(name, None)
    out, err = io.StringIO(), io.StringIO()
    with _isolated(cwd, env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = driver.main(list(words))
        except SystemExit as exc:  # the AWS CLI's argument parser
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()
