"""The client amishare calls AWS with: a botocore client that acts as its account and speaks amishare's errors.

Each API call (and each page a paginator fetches, each wait of a waiter) runs as the client's account (a
routed client's calls are signed as it: ``session.RoutedCredentials``) and inside ``aws_errors``: a botocore
error comes out as the ``AwsError`` it means, naming the operation, the account and the region. No caller
labels its calls by hand.

Every call is also logged, in one place (``log_calls``, on botocore's own events, so each page, each waiter poll
and each retry is seen): the logger ``amishare.aws`` gets one INFO record per call with its service, operation,
account, region, status, request id, retries and duration (``record.aws_call``, a dictionary); at DEBUG the
record carries the call's parameters too. Nothing is formatted while neither level is enabled.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any

from amishare.aws.errors import aws_errors
from amishare.aws.pacer import pace_kms

ACTING_AS: contextvars.ContextVar[str] = contextvars.ContextVar("amishare_acting_as")
_END = object()  # what a page iterator's next gives when it has no more
CALLS = logging.getLogger("amishare.aws")
_STARTED = "amishare_started"  # botocore's request context: when the call started (monotonic)
_MODEL = "amishare_model"  # which operation (a call that got no answer is told only its context)
_PARAMS = "amishare_params"  # and, at DEBUG, what it was asked
_HIDDEN = frozenset({"ExternalId", "Plaintext", "SecretAccessKey", "SessionToken"})  # never logged
PARAMS_LIMIT = 2000  # characters of a call's parameters a DEBUG record keeps


def _nobody() -> str | None:
    return None


class Client:
    """A botocore client's calls as ``account`` (None: the caller's own credentials, whose account ``caller``
    tells once it is known) in ``region``, with botocore's errors translated."""

    def __init__(
        self,
        client: Any,
        region: str,
        account: str | None = None,
        *,
        caller: Callable[[], str | None] = _nobody,
        kms_quotas: Mapping[str, float] | None = None,
    ) -> None:
        self._client = client
        self._acting_as = account
        self._caller = caller
        self.region = region
        self.meta = client.meta
        self.exceptions = client.exceptions
        self._kms = client.meta.service_model.service_name == "kms"
        self._kms_quotas = kms_quotas  # the account's raised KMS quotas, else KMS's defaults

    @property
    def account(self) -> str | None:
        """The account the calls are made as (None while the caller's is not known yet)."""
        return self._acting_as or self._caller()

    @contextmanager
    def calling(self, operation: str) -> Iterator[None]:
        """The block's AWS calls made as this client's account, their botocore errors translated (a KMS call paced to
        its request quota first: ``pacer.pace_kms``)."""
        if self._kms:
            pace_kms(self.account, self.region, operation, self._kms_quotas)
        token = ACTING_AS.set(self._acting_as) if self._acting_as else None
        try:
            with aws_errors(operation, self.account, self.region):
                yield
        finally:
            if token is not None:
                ACTING_AS.reset(token)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name == "get_paginator":
            return lambda method: Paginator(attribute(method), self, self._operation(method))
        if name == "get_waiter":
            return lambda waiter: Waiter(attribute(waiter), self)
        operation = self.meta.method_to_api_mapping.get(name)
        if operation is None:  # not an API call (meta, exceptions, can_paginate ...)
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self.calling(operation):
                return attribute(*args, **kwargs)

        self.__dict__[name] = call  # the next lookup finds it without __getattr__
        return call

    def _operation(self, method: str) -> str:
        return str(self.meta.method_to_api_mapping.get(method, method))


class Paginator:
    """A botocore paginator whose pages are fetched through ``Client.calling``."""

    def __init__(self, paginator: Any, client: Client, operation: str) -> None:
        self._paginator = paginator
        self._client = client
        self._operation = operation

    def paginate(self, **params: Any) -> Pages:
        return Pages(self._paginator.paginate(**params), self._client, self._operation)


class Pages:
    """A botocore page iterator, each page fetched through ``Client.calling``."""

    def __init__(self, pages: Any, client: Client, operation: str) -> None:
        self._pages = pages
        self._client = client
        self._operation = operation

    def __iter__(self) -> Iterator[Any]:
        pages = iter(self._pages)
        while True:
            with self._client.calling(self._operation):
                page = next(pages, _END)
            if page is _END:
                return
            yield page

    def build_full_result(self) -> Any:
        with self._client.calling(self._operation):
            return self._pages.build_full_result()

    def search(self, expression: str) -> Iterator[Any]:
        results = iter(self._pages.search(expression))
        while True:
            with self._client.calling(self._operation):
                result = next(results, _END)
            if result is _END:
                return
            yield result


class Waiter:
    """A botocore waiter whose polls go through ``Client.calling`` (a failed wait is an ``AwsError`` too)."""

    def __init__(self, waiter: Any, client: Client) -> None:
        self._waiter = waiter
        self._client = client

    def wait(self, **params: Any) -> None:
        with self._client.calling(str(self._waiter.config.operation)):
            self._waiter.wait(**params)


def log_calls(events: Any, region: str, account: Callable[[], str | None], step: Callable[[], str]) -> None:
    """Log each call of the botocore client whose event system ``events`` is (``client.meta.events``): made in
    ``region`` as ``account()`` (None: not known yet), by the step ``step()`` (an action kind, or ``observe``)."""
    events.register("before-parameter-build", _call_asked)
    events.register("before-call", _call_started)
    events.register("after-call", partial(_call_answered, region=region, account=account, step=step))
    events.register("after-call-error", partial(_call_failed, region=region, account=account, step=step))


def _call_asked(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    if CALLS.isEnabledFor(logging.DEBUG):
        context[_PARAMS] = {name: "***" if name in _HIDDEN else value for name, value in params.items()}


def _call_started(model: Any, context: dict[str, Any], **_: Any) -> None:
    if CALLS.isEnabledFor(logging.INFO):
        context[_STARTED] = time.monotonic()
        context[_MODEL] = model


def _call_answered(
    http_response: Any,
    parsed: dict[str, Any],
    model: Any,
    context: dict[str, Any],
    *,
    region: str,
    account: Callable[[], str | None],
    step: Callable[[], str],
    **_: Any,
) -> None:
    if not CALLS.isEnabledFor(logging.INFO):
        return
    metadata = parsed.get("ResponseMetadata", {})
    headers = {name.lower(): value for name, value in (getattr(http_response, "headers", None) or {}).items()}
    request_id = metadata.get("RequestId") or headers.get("x-amzn-requestid") or headers.get("x-amz-request-id")
    error = parsed.get("Error", {}).get("Code") if http_response.status_code >= 300 else None
    _log_call(
        model,
        context,
        region,
        account,
        step,
        http_response.status_code,
        error,
        request_id,
        int(metadata.get("RetryAttempts", 0)),
    )


def _call_failed(
    exception: BaseException,
    context: dict[str, Any],
    *,
    region: str,
    account: Callable[[], str | None],
    step: Callable[[], str],
    **_: Any,
) -> None:
    """A call that got no answer (a connection error, a timeout), after botocore's retries."""
    if not CALLS.isEnabledFor(logging.INFO):
        return
    retries = max(0, int(context.get("retries", {}).get("attempt", 1)) - 1)
    model = context.get(_MODEL)
    _log_call(model, context, region, account, step, None, type(exception).__name__, None, retries)


def _log_call(
    model: Any,
    context: dict[str, Any],
    region: str,
    account: Callable[[], str | None],
    step: Callable[[], str],
    status: int | None,
    error: str | None,
    request_id: str | None,
    retries: int,
) -> None:
    started = context.get(_STARTED)
    call: dict[str, Any] = {
        "service": model.service_model.service_id.hyphenize() if model is not None else "",
        "operation": model.name if model is not None else "",
        "account": account() or "",
        "region": region,
        "status": status,
        "error": error,
        "request_id": request_id or "",
        "retries": retries,
        "duration": round(time.monotonic() - started, 3) if started is not None else None,
        "step": step(),
    }
    if _PARAMS in context:
        call["params"] = context[_PARAMS]
    CALLS.info("%s", _CallLine(call), extra={"aws_call": call})


class _CallLine:
    """A call as one line (formatted only when a handler prints it)."""

    def __init__(self, call: dict[str, Any]) -> None:
        self.call = call

    def __str__(self) -> str:
        call = self.call
        status = "no answer" if call["status"] is None else str(call["status"])
        line = (
            f"aws {call['service']}.{call['operation']} account={call['account'] or 'caller'} region={call['region']} "
            f"status={status}{' ' + call['error'] if call['error'] else ''} request_id={call['request_id'] or '-'} "
            f"retries={call['retries']} duration={call['duration']}s step={call['step']}"
        )
        if "params" in call:
            params = json.dumps(call["params"], default=str, sort_keys=True)
            line += " params=" + (params if len(params) <= PARAMS_LIMIT else params[:PARAMS_LIMIT] + "...")
        return line
