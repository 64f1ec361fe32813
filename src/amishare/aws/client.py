"""The client amishare calls AWS with: a botocore client that acts as its account and speaks amishare's errors.

Each API call (and each page a paginator fetches, each wait of a waiter) runs as the client's account (a
routed client's calls are signed as it: ``session.RoutedCredentials``) and inside ``aws_errors``: a botocore
error comes out as the ``AwsError`` it means, naming the operation, the account and the region. No caller
labels its calls by hand.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from amishare.aws.errors import aws_errors

ACTING_AS: contextvars.ContextVar[str] = contextvars.ContextVar("amishare_acting_as")
_END = object()  # what a page iterator's next gives when it has no more


def _nobody() -> str | None:
    return None


class Client:
    """A botocore client's calls as ``account`` (None: the caller's own credentials, whose account ``caller``
    tells once it is known) in ``region``, with botocore's errors translated."""

    def __init__(
        self, client: Any, region: str, account: str | None = None, *, caller: Callable[[], str | None] = _nobody
    ) -> None:
        self._client = client
        self._acting_as = account
        self._caller = caller
        self.region = region
        self.meta = client.meta
        self.exceptions = client.exceptions

    @property
    def account(self) -> str | None:
        """The account the calls are made as (None while the caller's is not known yet)."""
        return self._acting_as or self._caller()

    @contextmanager
    def calling(self, operation: str) -> Iterator[None]:
        """The block's AWS calls made as this client's account, their botocore errors translated."""
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
