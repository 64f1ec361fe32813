"""Wire protocols of the services the overlay answers itself.

Requests are decoded into the same dictionaries boto3 takes as keyword arguments, and
responses are encoded from the dictionaries boto3 returns, both driven by botocore's own
service models, so a handler is written in boto3's terms and the bytes on the wire are what
botocore expects from AWS:

* ``ec2``: form-encoded query input (lists flattened as ``Name.N``), XML output with
  ``<item>`` list members, errors as ``<Response><Errors><Error>``.
* ``query`` (STS): form input (lists as ``Name.member.N``), XML output wrapped in
  ``<OpResult>``, errors as ``<ErrorResponse><Error>``.
* ``json`` (KMS, Organizations): JSON in and out, timestamps as epoch seconds,
  errors as ``{"__type": code, "message": ...}``.

``encode_error`` writes an error in any service's format (moto's services included), from the protocol
its botocore model names: the overlay's answer when serving a request raised.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from functools import cache
from typing import Any
from xml.sax.saxutils import escape

import botocore.session

from amishare.sandbox.state import RANDOM


class AwsFault(Exception):
    """An AWS error response: raised by a handler, encoded by the service's protocol."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@cache
def service_model(service: str) -> Any:
    """botocore's model of ``service`` (cached: models are immutable)."""
    return botocore.session.get_session().get_service_model(service)


def operation_model(service: str, action: str) -> Any:
    try:
        return service_model(service).operation_model(action)
    except Exception as exc:  # botocore raises OperationNotFoundError
        raise AwsFault("InvalidAction", f"The action {action} is not valid for this web service.") from exc


# --------------------------------------------------------------------------- decoding
def decode_query(service: str, action: str, params: dict[str, str]) -> dict[str, Any]:
    """Turn flat query parameters into boto3-style keyword arguments."""
    op = operation_model(service, action)
    if op.input_shape is None:
        return {}
    ec2 = service_model(service).protocol == "ec2"
    value = _decode_structure(op.input_shape, "", _Query(params), ec2)
    return value or {}


def _query_name(shape: Any, member: str, ec2: bool) -> str:
    if ec2:
        if "queryName" in shape.serialization:
            return str(shape.serialization["queryName"])
        if "name" in shape.serialization:
            name = str(shape.serialization["name"])
            return name[0].upper() + name[1:]
        return member
    return str(shape.serialization.get("name", member))


class _Query(dict[str, str]):
    """Query parameters, with every dotted prefix of their names (``A.1.B`` -> ``A``, ``A.1``, ``A.1.B``), so
    that asking whether a member is present costs one lookup (a list of 1,000 accounts is not quadratic)."""

    def __init__(self, params: dict[str, str]) -> None:
        super().__init__(params)
        self.prefixes: set[str] = set()
        for name in params:
            parts = name.split(".")
            self.prefixes.update(".".join(parts[:end]) for end in range(1, len(parts) + 1))


def _has_prefix(params: dict[str, str], key: str) -> bool:
    if isinstance(params, _Query):
        return key in params.prefixes
    dotted = key + "."
    return any(k == key or k.startswith(dotted) for k in params)


def _decode(shape: Any, key: str, params: dict[str, str], ec2: bool) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return _decode_structure(shape, key, params, ec2)
    if kind == "list":
        return _decode_list(shape, key, params, ec2)
    if kind == "map":
        return _decode_map(shape, key, params, ec2)
    if key not in params:
        return None
    raw = params[key]
    if kind in ("integer", "long"):
        try:
            return int(raw)
        except ValueError as exc:
            raise AwsFault("InvalidParameterValue", f"Value ({raw}) for parameter {key} is invalid.") from exc
    if kind in ("double", "float"):
        return float(raw)
    if kind == "boolean":
        return raw.lower() == "true"
    if kind == "timestamp":
        return parse_timestamp(raw)
    return raw


def _decode_structure(shape: Any, prefix: str, params: dict[str, str], ec2: bool) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for member, member_shape in shape.members.items():
        name = _query_name(member_shape, member, ec2)
        key = f"{prefix}.{name}" if prefix else name
        if not _has_prefix(params, key):
            continue
        value = _decode(member_shape, key, params, ec2)
        if value is not None:
            out[member] = value
    return out if (out or not prefix) else None


def _decode_list(shape: Any, key: str, params: dict[str, str], ec2: bool) -> list[Any]:
    flattened = ec2 or shape.serialization.get("flattened", False)
    base = key if flattened else f"{key}.member"
    items: list[Any] = []
    index = 1
    while _has_prefix(params, f"{base}.{index}"):
        items.append(_decode(shape.member, f"{base}.{index}", params, ec2))
        index += 1
    return items


def _decode_map(shape: Any, key: str, params: dict[str, str], ec2: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    index = 1
    while _has_prefix(params, f"{key}.entry.{index}"):
        entry = f"{key}.entry.{index}"
        out[params[f"{entry}.key"]] = _decode(shape.value, f"{entry}.value", params, ec2)
        index += 1
    return out


def parse_timestamp(raw: str) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(float(raw), tz=dt.UTC)
    except ValueError:
        pass
    value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# --------------------------------------------------------------------------- encoding
def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _xml_value(shape: Any, value: Any, item_tag: str) -> str:
    kind = shape.type_name
    if kind == "structure":
        parts = []
        for member, member_shape in shape.members.items():
            if member not in value or value[member] is None:
                continue
            tag = member_shape.serialization.get("name", member)
            parts.append(f"<{tag}>{_xml_value(member_shape, value[member], item_tag)}</{tag}>")
        return "".join(parts)
    if kind == "list":
        tag = shape.member.serialization.get("name", item_tag) if item_tag == "member" else item_tag
        return "".join(f"<{tag}>{_xml_value(shape.member, v, item_tag)}</{tag}>" for v in value)
    if kind == "map":
        return "".join(
            f"<entry><key>{escape(str(k))}</key><value>{_xml_value(shape.value, v, item_tag)}</value></entry>"
            for k, v in value.items()
        )
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        return _iso(value) if isinstance(value, dt.datetime) else escape(str(value))
    return escape(str(value))


def encode_xml(service: str, action: str, result: dict[str, Any], request_id: str) -> bytes:
    model = service_model(service)
    op = model.operation_model(action)
    namespace = model.metadata.get("xmlNamespace", "")
    body = (
        _xml_value(op.output_shape, result, "item" if model.protocol == "ec2" else "member") if op.output_shape else ""
    )
    if model.protocol == "ec2":
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<{action}Response xmlns="{namespace}">'
            f"<requestId>{request_id}</requestId>{body}</{action}Response>"
        )
    else:
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<{action}Response xmlns="{namespace}">'
            f"<{action}Result>{body}</{action}Result>"
            f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
        )
    return xml.encode()


def wire_format(service: str) -> str:
    """The protocol ``service`` speaks (botocore's name: ``ec2``, ``query``, ``json``, ``rest-json``,
    ``rest-xml``); ``query`` for a name botocore does not know (the credential scope names the service)."""
    try:
        return str(service_model(service).protocol)
    except Exception:  # botocore raises UnknownServiceError
        return "query"


def encode_error(service: str, fault: AwsFault, request_id: str) -> tuple[bytes, str]:
    """``fault`` in ``service``'s own wire format, and its content type."""
    if wire_format(service) in ("json", "rest-json"):
        return encode_json_error(fault), "application/x-amz-json-1.1"
    return encode_xml_error(service, fault, request_id), "text/xml"


def encode_xml_error(service: str, fault: AwsFault, request_id: str) -> bytes:
    code, message = escape(fault.code), escape(fault.message)
    if wire_format(service) == "ec2":
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
    else:
        kind = "Sender" if fault.status < 500 else "Receiver"
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>{kind}</Type>'
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    return xml.encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    raise TypeError(f"cannot encode {type(value).__name__}")


def encode_json(result: dict[str, Any]) -> bytes:
    return json.dumps(result, default=_json_default).encode()


def encode_json_error(fault: AwsFault) -> bytes:
    return json.dumps({"__type": fault.code, "message": fault.message}).encode()


def new_request_id() -> str:
    return str(uuid.UUID(int=RANDOM.getrandbits(128), version=4))
