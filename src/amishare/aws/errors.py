"""The one place botocore errors become amishare errors.

Every client ``Sessions`` hands out translates its own errors (``aws.client.Client`` runs each call, and
each page of a paginator, in ``aws_errors``): a ``ClientError`` becomes the ``AwsError`` it means, named
by the operation botocore reports (``ClientError.operation_name``) and the client's account and region.
Code that knows more than the call (which role it was assuming) adds it with ``error_context``; code that
branches on AWS's error code reads ``AwsError.code``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError, ProfileNotFound

from amishare.errors import AccessDenied, AwsError, NotFound

ACCESS_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthFailure",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
}
# What AWS answers a call on an image that is gone or going (docs/aws-facts.md section 3): NotFound, or Unavailable
# while the image is still described as deregistered (and, for a share, while it is pending). Wherever amishare
# takes an image as already gone, it takes both codes.
IMAGE_GONE = frozenset({"InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"})
CONFIGURE = "configure"  # the operation named by errors of making a session or client (no AWS call yet)


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def translate(exc: ClientError | BotoCoreError, operation: str, account: str | None, region: str | None) -> AwsError:
    """Turn a botocore error into the amishare error it means, naming who, where and what (a ``ClientError``
    names its operation itself; ``operation`` is the one that was called)."""
    operation = str(getattr(exc, "operation_name", "") or operation)
    where = " ".join(part for part in (f"account {account}" if account else "", region or "") if part)
    if isinstance(exc, NoCredentialsError):
        return AccessDenied(
            "no AWS credentials found: set AWS_PROFILE or pass --profile, or export "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
            operation=operation,
            account=account,
            region=region,
        )
    if isinstance(exc, ProfileNotFound):
        return AccessDenied(
            f"{exc}: check --profile (or AWS_PROFILE) against the profiles in ~/.aws/config and ~/.aws/credentials",
            operation=operation,
        )
    if isinstance(exc, NoRegionError):
        return AwsError("no region: pass --region or set defaults.region in amishare.toml", operation=operation)
    if not isinstance(exc, ClientError):
        return AwsError(
            f"{operation} failed{' in ' + where if where else ''}: {exc}",
            operation=operation,
            account=account,
            region=region,
        )
    code = error_code(exc)
    message = exc.response.get("Error", {}).get("Message", "")
    text = f"{operation} failed{' in ' + where if where else ''}: {code}: {message}"
    kind: type[AwsError] = AwsError
    if code in ACCESS_DENIED:
        kind = AccessDenied
    elif code.endswith(".NotFound") or code in ("NotFoundException", "NoSuchEntity"):
        kind = NotFound
    error = kind(text, operation=operation, code=code, account=account, region=region)
    error.aws_message = message
    return error


@contextmanager
def aws_errors(operation: str, account: str | None = None, region: str | None = None) -> Iterator[None]:
    """Turn a botocore error raised inside the block into the amishare error it means (``AwsError.code``
    keeps AWS's error code for callers that branch on it). ``Client`` runs every call in it: only a client
    that ``Sessions`` did not make (the sandbox's own) needs it around its calls."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, operation, account, region) from exc


def configuring(region: str | None = None) -> AbstractContextManager[None]:
    """Errors of making a session or a client (an unknown profile, no region) as amishare errors."""
    return aws_errors(CONFIGURE, None, region)


@contextmanager
def error_context(what: str, *, account: str | None = None) -> Iterator[None]:
    """Add ``what`` (what amishare was doing, in words a user reads) to an ``AwsError`` raised in the block,
    already translated by the client: the error keeps its kind, code, operation and region, and its account
    unless ``account`` says whose the failure is (an AssumeRole the caller makes fails for the role's account)."""
    try:
        yield
    except AwsError as exc:
        text = str(exc)
        if account and exc.account and account != exc.account:
            text = text.replace(f"account {exc.account}", f"account {account}", 1)
            exc.account = account
        exc.args = (f"{text} (while {what})", *exc.args[1:])
        raise
