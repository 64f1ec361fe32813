"""The one exception tree of amishare, and the exit code each error maps to.

    AmiShareError                  exit 1   anything amishare raises on purpose
    ├── UsageError                 exit 2   bad input: a malformed id, ARN, region, flag
    ├── ConfigError                exit 3   the config file or its values
    ├── AwsError                   exit 4   AWS refused or failed a call
    │   ├── AccessDenied           exit 5   the caller may not do it
    │   └── NotFound               exit 6   the image, key, role ... does not exist
    ├── SandboxError               exit 8   the local AWS cannot start
    │   └── UnsupportedMoto        exit 8   moto is not the supported minor version
    ├── PlanRefused                exit 9   amishare will not do it as asked (safety): the message says how
    ├── JournalError               exit 10  the run journal cannot be read or written
    └── RunBusy                    exit 11  another live process holds the run's lease

Exit code 12 means ``amishare verify`` found an image not encrypted as it should be; 13 that
``amishare doctor`` found a capability asked for (``--need``) that does not work; 14 that ``amishare audit``
found a finding at or above ``--fail-on``.
Exit code 7 means partial: the run applied some actions and others failed (not an
exception: the CLI reads it from the run's result). 130 means interrupted (Ctrl-C); 0
success. The CLI maps errors to codes through ``exit_code`` and nothing else.
"""

from __future__ import annotations


class AmiShareError(Exception):
    """Base of every error amishare raises on purpose."""

    exit_code = 1


class UsageError(AmiShareError):
    exit_code = 2


class ConfigError(AmiShareError):
    exit_code = 3


class AwsError(AmiShareError):
    """An AWS call failed: which operation, with which code, as which account, where."""

    exit_code = 4

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        code: str = "",
        account: str | None = None,
        region: str | None = None,
    ) -> None:
        super().__init__(message)
        self.operation, self.code, self.account, self.region = operation, code, account, region
        self.aws_message = ""  # AWS's own words, when AWS answered


class AccessDenied(AwsError):
    exit_code = 5


class NotFound(AwsError):
    exit_code = 6


class SandboxError(AmiShareError):
    exit_code = 8


class UnsupportedMoto(SandboxError):
    """The installed moto is not the minor version the sandbox overlay was written against."""


class PlanRefused(AmiShareError):
    """A request amishare refuses before any change: public without the flag, aws/ebs without a
    share key, a key it cannot edit, a policy over the size limit ..."""

    exit_code = 9


class JournalError(AmiShareError):
    exit_code = 10


class RunBusy(AmiShareError):
    """The run is being applied by another process that is still alive (its lease in the journal)."""

    exit_code = 11


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: still a ``KeyboardInterrupt`` (what callers expect of Ctrl-C), naming the run to
    resume. Not an ``AmiShareError``: nothing went wrong, the user stopped it."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id)
        self.run_id = run_id


EXIT_PARTIAL = 7
EXIT_VERIFY_FAILED = 12  # amishare verify: some image is not encrypted as it should be
EXIT_DOCTOR_FAILED = 13  # amishare doctor: a capability asked for does not work
EXIT_AUDIT_FINDINGS = 14  # amishare audit --fail-on: a finding at or above that severity
EXIT_DRIFT = 15  # amishare drift: the estate differs from the manifest
EXIT_PLAN_CHANGES = 16  # amishare plan --detailed-exitcode: changes are pending
EXIT_AUDIT_UNREAD = 17  # amishare audit, --fail-on or not: an account or region asked for could not be read
EXIT_INTERRUPTED = 130
