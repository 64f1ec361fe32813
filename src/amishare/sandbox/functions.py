"""Lambda's REST API as the overlay reads it: the action a request names, its parameters, and what IAM authorizes it
against. moto answers every Lambda call (``sandbox/engine.py`` runs the engine's function in this process); the
overlay only needs to know which action a call is, to log it (read or mutating) and, when identity policies are
enforced, to authorize it.

Lambda's actions are a method and a path (``POST /2015-03-31/functions/{FunctionName}/invocations`` is ``Invoke``:
Lambda API Reference, "Invoke"), read from botocore's Lambda model, so every action the SDKs call is known by its
name. IAM names two of them differently: ``Invoke`` and ``InvokeWithResponseStream`` are authorized as
``lambda:InvokeFunction``, on the function's ARN (Service Authorization Reference, "Actions defined by AWS Lambda";
Lambda Developer Guide, "Resources and conditions for Lambda actions": the qualified ARN when a version or alias is
named).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any
from urllib.parse import parse_qsl

from amishare.sandbox.wire.protocol import AwsFault

IAM_ACTIONS = {"Invoke": "InvokeFunction", "InvokeWithResponseStream": "InvokeFunction"}
_PAYLOAD_ACTIONS = ("Invoke", "InvokeAsync", "InvokeWithResponseStream")  # their body is the function's event
_PLACEHOLDER = re.compile(r"\{(\w+)(\+?)\}")


@functools.cache
def _routes() -> tuple[tuple[str, re.Pattern[str], str], ...]:
    """(method, path pattern, action) of every Lambda action in botocore's model, the most specific first (the
    most literal characters: ``/functions/`` before ``/functions/{FunctionName}``)."""
    from botocore.model import ServiceModel

    from amishare.sandbox.server import model_loader

    model = ServiceModel(model_loader().load_service_model("lambda", "service-2"), "lambda")
    found = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        path = str(http["requestUri"]).split("?", 1)[0]
        literal = len(_PLACEHOLDER.sub("", path))
        pieces, start = [], 0
        for match in _PLACEHOLDER.finditer(path):
            pieces.append(re.escape(path[start : match.start()]))
            pieces.append(f"(?P<{match.group(1)}>{'.+' if match.group(2) else '[^/]+'})")
            start = match.end()
        pieces.append(re.escape(path[start:].rstrip("/")))
        found.append((literal, str(http["method"]), re.compile("".join(pieces) + "/?$"), str(name)))
    found.sort(key=lambda route: -route[0])
    return tuple((method, pattern, name) for _, method, pattern, name in found)


def route(method: str, path: str) -> tuple[str, dict[str, str]]:
    """The Lambda action of a REST request and its path parameters; ``("", {})`` for a path Lambda does not have
    (moto answers it as it does)."""
    for wanted, pattern, name in _routes():
        if wanted == method:
            match = pattern.match(path)
            if match:
                return name, dict(match.groupdict())
    return "", {}


def read(method: str, path: str, query: str, body: bytes) -> tuple[str, dict[str, Any]]:
    """The action and its parameters: the path's, the query string's and, but for an invocation (whose body is the
    function's event, not parameters), the JSON body's."""
    action, params = route(method, path)
    found: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    if action not in _PAYLOAD_ACTIONS and body:
        try:
            loaded = json.loads(body)
        except json.JSONDecodeError as exc:
            raise AwsFault("SerializationException", "The request body is not valid JSON") from exc
        if isinstance(loaded, dict):
            found.update(loaded)
    return action, {**found, **params}


def iam_action(action: str) -> str:
    """The IAM action a Lambda API action is authorized as (``lambda:InvokeFunction`` for ``Invoke``)."""
    return f"lambda:{IAM_ACTIONS.get(action, action)}"


def function_arn(name: str, region: str, account: str, qualifier: str | None = None) -> str:
    """The ARN of the function a request names (a name, a partial ARN ``ACCOUNT:function:NAME``, or an ARN; with
    the request's ``Qualifier``)."""
    if name.startswith("arn:"):
        arn = name
    elif ":function:" in name:
        arn = f"arn:aws:lambda:{region}:{name}"
    else:
        arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier and arn.count(":") == 6 else arn
