"""The overlay: a WSGI application in front of moto's.

For every request it identifies the caller (from the SigV4 credential), logs the call,
applies the latency and throttling knobs, then either answers from the overlay's world
(EC2 images and snapshots, KMS, STS, Organizations) or hands the request to moto, telling
moto which account is calling.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from amishare.policy.evaluate import Caller
from amishare.sandbox import authz, events, functions, scp
from amishare.sandbox.autoscaling import AutoScalingHandlers
from amishare.sandbox.ec2.account import AccountHandlers, Delegate
from amishare.sandbox.ec2.allowed_images import AllowedImagesHandlers
from amishare.sandbox.ec2.images.copy import CopyImageHandlers
from amishare.sandbox.ec2.images.describe import DescribeImageHandlers
from amishare.sandbox.ec2.images.lifecycle import ImageLifecycleHandlers
from amishare.sandbox.ec2.images.permissions import ImagePermissionHandlers
from amishare.sandbox.ec2.instances import InstanceHandlers
from amishare.sandbox.ec2.references import ReferenceHandlers
from amishare.sandbox.ec2.regions import RegionHandlers
from amishare.sandbox.ec2.snapshots import SnapshotHandlers
from amishare.sandbox.ec2.templates import TemplateHandlers
from amishare.sandbox.identity import StsHandlers, caller_for
from amishare.sandbox.kms.crypto_handlers import CryptoHandlers
from amishare.sandbox.kms.grant_handlers import GrantHandlers
from amishare.sandbox.kms.key_handlers import KeyHandlers
from amishare.sandbox.kms.policy_handlers import KeyPolicyHandlers
from amishare.sandbox.organizations import OrganizationsHandlers
from amishare.sandbox.rbin import RbinHandlers, RecycleBinImageHandlers, route
from amishare.sandbox.ssm import SsmHandlers
from amishare.sandbox.state import Call, World
from amishare.sandbox.wire import moto_compat, protocol
from amishare.sandbox.wire.protocol import AwsFault
from amishare.sandbox.wire.throttle import Throttle

LOG = logging.getLogger(__name__)
Handler = Callable[[Caller, str, dict[str, Any]], dict[str, Any]]
StartResponse = Callable[..., Any]

READ_PREFIXES = ("Describe", "Get", "List", "Lookup", "Search", "Preview")
# Calls that change nothing in the account (cryptographic use of a key, sessions).
READ_ACTIONS = {
    "AssumeRole",
    "Encrypt",
    "Decrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncrypt",
    "GenerateRandom",
    "Sign",
    "Verify",
}
JSON_SERVICES = {"kms", "organizations", "ssm", "rbin"}
OWNED_SERVICES = {
    "autoscaling",
    "ssm",
    "rbin",
}  # every call of these is the overlay's: what it does not emulate is refused
_UNKNOWN_CREDENTIALS = {
    "ec2": ("AuthFailure", "AWS was not able to validate the provided access credentials", 401),
    "kms": ("UnrecognizedClientException", "The security token included in the request is invalid.", 400),
    "organizations": ("UnrecognizedClientException", "The security token included in the request is invalid.", 400),
    "ssm": ("UnrecognizedClientException", "The security token included in the request is invalid.", 400),
    "rbin": ("UnrecognizedClientException", "The security token included in the request is invalid.", 403),
}


def is_mutating(action: str, params: dict[str, Any]) -> bool:
    if params.get("DryRun") in (True, "true"):
        return False
    return not (action.startswith(READ_PREFIXES) or action in READ_ACTIONS)


def _handler_table(*groups: Any) -> dict[str, Handler]:
    """Action name -> handler: every public method whose name is capitalized (an AWS action) of every group;
    an action two groups both answer is a mistake."""
    table: dict[str, Handler] = {}
    for group in groups:
        actions = {name: getattr(group, name) for name in dir(group) if name[:1].isupper()}
        twice = sorted(actions.keys() & table.keys())
        if twice:
            raise ValueError(f"{type(group).__name__} answers actions another handler group answers: {twice}")
        table.update(actions)
    return table


class OverlayApp:
    def __init__(self, world: World, moto_app: Any) -> None:
        self.world = world
        self.moto = moto_app
        self.throttle = Throttle(world.clock)
        self.handlers: dict[str, dict[str, Handler]] = {
            "ec2": _handler_table(
                DescribeImageHandlers(world),
                CopyImageHandlers(world),
                ImagePermissionHandlers(world),
                ImageLifecycleHandlers(world),
                SnapshotHandlers(world),
                AccountHandlers(world),
                RegionHandlers(world),
                AllowedImagesHandlers(world),
                InstanceHandlers(world),
                TemplateHandlers(world),
                ReferenceHandlers(world),
                RecycleBinImageHandlers(world),
            ),
            "kms": _handler_table(
                KeyHandlers(world), KeyPolicyHandlers(world), GrantHandlers(world), CryptoHandlers(world)
            ),
            "sts": _handler_table(StsHandlers(world)),
            "organizations": _handler_table(OrganizationsHandlers(world)),
            "autoscaling": _handler_table(AutoScalingHandlers(world)),
            "ssm": _handler_table(SsmHandlers(world)),
            "rbin": _handler_table(RbinHandlers(world)),
        }

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer one request. An exception raised while serving it (moto's or the overlay's own bug) is
        answered as AWS answers a server fault, HTTP 500 ``InternalFailure`` in the service's wire format, and
        logged: a dropped connection would make botocore send the request again (docs/aws-facts.md section 8)."""
        scope = _credential_scope(environ.get("HTTP_AUTHORIZATION", ""))
        service = scope[2] if scope else ""
        logged: list[Call] = []
        try:
            return self._answer(scope, environ, start_response, logged)
        except Exception:
            LOG.exception(
                "the sandbox failed to serve %s %s", service or "an unsigned request", environ.get("PATH_INFO")
            )
            internal = AwsFault(
                "InternalFailure",
                "The request processing has failed because of an unknown error, exception or failure.",
                500,
            )
            return self._fault(service, internal, start_response, logged[0] if logged else None)

    def _answer(
        self,
        scope: tuple[str, str, str] | None,
        environ: dict[str, Any],
        start_response: StartResponse,
        logged: list[Call],
    ) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if scope is None:  # unsigned: moto's own API (/moto-api/...) and the like
            return list(self.moto(environ, start_response))
        access_key, region, service = scope
        try:
            action, params = self._read(service, environ, body)
        except AwsFault as fault:
            return self._fault(service, fault, start_response)
        caller = caller_for(self.world, access_key)
        call = Call(
            account=caller.account if caller else None,
            region=region,
            service=service,
            action=action,
            mutating=is_mutating(action, params),
            user_agent=environ.get("HTTP_USER_AGENT", ""),
            at=time.time(),
            request_id=protocol.new_request_id(),
        )
        events.REQUEST_ID.set(call.request_id)
        with self.world.lock:
            self.world.calls.append(call)
            events.settle(self.world)  # copies that ended since the last request put their events now
        logged.append(call)
        events.deliver(self.world)  # before the request is served: a queue read now finds them
        try:
            return self._serve(caller, region, service, action, params, environ, start_response, call)
        finally:
            events.deliver(self.world)  # what this request put, before its answer leaves

    def _serve(
        self,
        caller: Caller | None,
        region: str,
        service: str,
        action: str,
        params: dict[str, Any],
        environ: dict[str, Any],
        start_response: StartResponse,
        call: Call,
    ) -> Iterable[bytes]:
        if caller is None:
            code, message, status = _UNKNOWN_CREDENTIALS.get(
                service, ("InvalidClientTokenId", "The security token included in the request is invalid.", 403)
            )
            return self._fault(service, AwsFault(code, message, status), start_response, call)
        refused = self._gate(caller, region, service, action, params, call)
        if refused is not None:
            return self._fault(service, refused, start_response, call)
        handler = self.handlers.get(service, {}).get(action)
        if handler is None and (service in OWNED_SERVICES or (service == "ec2" and _ours(action))):
            unsupported = AwsFault(
                "UnsupportedOperation", f"The amishare sandbox does not emulate {action}; see docs/sandbox.md."
            )
            return self._fault(service, unsupported, start_response, call)
        if handler is not None:
            try:
                decoded = protocol.decode_query(service, action, params) if service not in JSON_SERVICES else params
                result = handler(caller, region, decoded)
            except Delegate:
                pass
            except AwsFault as fault:
                return self._fault(service, fault, start_response, call)
            else:
                self._after(call, decoded)
                return self._ok(service, action, result, start_response, call.request_id)
        environ["HTTP_" + moto_compat.ACCOUNT_HEADER.upper().replace("-", "_")] = caller.account
        if service == "cloudformation":
            _template_url_for_moto(environ)

        def recording_start(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            call.status = int(status.split(maxsplit=1)[0])
            return start_response(status, headers, *rest)

        with moto_compat.serialized(service):
            return list(self.moto(environ, recording_start))

    def _after(self, call: Call, params: dict[str, Any]) -> None:
        """Run the first ``Sandbox.after`` registered for this call, if any (outside the world's lock: it may call
        the sandbox over HTTP, served on another connection)."""
        action = f"{call.service}:{call.action}"
        with self.world.lock:
            found = next((a for a in self.world.after_calls if a.action == action and a.when(call, params)), None)
            if found is not None:
                self.world.after_calls.remove(found)
        if found is not None:
            found.do()

    def _gate(
        self, caller: Caller, region: str, service: str, action: str, params: dict[str, Any], call: Call
    ) -> AwsFault | None:
        """What a known caller's call goes through before it is answered: the latency knob, then why it is refused
        (EC2 throttling, an SCP, the identity policies), None when it is not."""
        settings = self.world.settings
        if settings.latency_ms > 0:
            time.sleep(settings.latency_ms / 1000)
        if (
            service == "ec2"
            and settings.throttle
            and not self.throttle.admit(caller.account, region, action, call.mutating)
        ):
            return AwsFault("RequestLimitExceeded", "Request limit exceeded.", 503)
        if (
            service == "kms"
            and settings.throttle
            and not self.throttle.admit_kms(caller.account, region, action, settings.kms_request_quotas)
        ):
            return AwsFault(  # KMS Developer Guide, "Throttling AWS KMS requests"
                "ThrottlingException",
                "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.",
            )
        with self.world.lock:
            refused = scp.denies(self.world, caller, f"{service}:{action}", region)
        if refused:
            return scp.refusal(service, action, caller)
        try:
            self._authorize(caller, region, service, action, params)
        except AwsFault as denied:
            return denied
        return None

    def _authorize(self, caller: Caller, region: str, service: str, action: str, params: dict[str, Any]) -> None:
        """Identity policies of role sessions, when the sandbox enforces them (sandbox/authz.py)."""
        if not authz.enforced(self.world, caller):
            return
        decoded = params
        if service not in JSON_SERVICES and service in ("ec2", "sts"):
            decoded = protocol.decode_query(service, action, params)
        with self.world.lock:
            authz.authorize(self.world, caller, service, action, region, decoded)

    @staticmethod
    def _read(service: str, environ: dict[str, Any], body: bytes) -> tuple[str, dict[str, Any]]:
        """The action and its parameters: JSON protocols (KMS, Organizations, SSM, EventBridge, STS's JSON ...)
        name it in ``X-Amz-Target``, query protocols (EC2, SNS, SES, IAM) in the ``Action`` field, REST protocols
        (Lambda, Recycle Bin) in the method and the path."""
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if service == "lambda":  # REST-JSON: the action is the method and the path (sandbox/functions.py)
            method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
            return functions.read(method, path, environ.get("QUERY_STRING", ""), body)
        if service == "rbin":  # REST-JSON: the action is the method and the path
            action, path_params = route(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""))
            try:
                params = json.loads(body or b"{}")
            except json.JSONDecodeError as exc:
                raise AwsFault("SerializationException", "The request body is not valid JSON") from exc
            return action, {**params, **path_params}
        if service in JSON_SERVICES or target:
            try:
                params = json.loads(body or b"{}")
            except json.JSONDecodeError as exc:
                raise AwsFault("SerializationException", "The request body is not valid JSON") from exc
            return target.rsplit(".", 1)[-1], params
        # S3 (REST-XML) carries an object's bytes, whatever they are, in its body: they are moto's to read
        form = {} if service == "s3" else dict(parse_qsl(body.decode(), keep_blank_values=True))
        form.update(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        return form.get("Action", ""), form

    def _ok(
        self, service: str, action: str, result: dict[str, Any], start_response: StartResponse, request_id: str
    ) -> list[bytes]:
        if service in JSON_SERVICES:
            payload, ctype = protocol.encode_json(result), "application/x-amz-json-1.1"
        else:
            payload, ctype = protocol.encode_xml(service, action, result, request_id), "text/xml"
        start_response(
            "200 OK", [("Content-Type", ctype), ("Content-Length", str(len(payload))), ("x-amzn-RequestId", request_id)]
        )
        return [payload]

    def _fault(
        self, service: str, fault: AwsFault, start_response: StartResponse, call: Call | None = None
    ) -> list[bytes]:
        request_id = call.request_id if call is not None and call.request_id else protocol.new_request_id()
        if call is not None:
            call.status, call.error = fault.status, fault.code
        payload, ctype = protocol.encode_error(service, fault, request_id)
        reason = {
            400: "Bad Request",
            401: "Unauthorized",
            403: "Forbidden",
            412: "Precondition Failed",
            500: "Internal Server Error",
            503: "Service Unavailable",
        }.get(fault.status, "Error")
        start_response(
            f"{fault.status} {reason}",
            [("Content-Type", ctype), ("Content-Length", str(len(payload))), ("x-amzn-RequestId", request_id)],
        )
        return [payload]


def _template_url_for_moto(environ: dict[str, Any]) -> None:
    """A CloudFormation ``TemplateURL`` naming an object of the sandbox's own S3 by its path, as the AWS CLI's
    ``cloudformation deploy --s3-bucket`` builds it from its S3 endpoint (``http://127.0.0.1:PORT/BUCKET/KEY``), is
    given to moto with the host ``localhost``: moto takes a TemplateURL's bucket from its host name unless the URL
    says localhost (docs/aws-facts.md section 8)."""
    host = environ.get("HTTP_HOST", "")
    form = parse_qsl(environ["wsgi.input"].getvalue().decode(), keep_blank_values=True)
    if not host or not any(k == "TemplateURL" and urlsplit(v).netloc == host for k, v in form):
        return
    rewritten = [
        (k, urlsplit(v)._replace(netloc="localhost").geturl() if k == "TemplateURL" else v) for k, v in form
    ]
    body = urlencode(rewritten).encode()
    environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))


def _ours(action: str) -> bool:
    """EC2 actions about images, snapshots, EBS encryption, instances, volumes and launch templates belong to the
    overlay alone."""
    return any(word in action for word in ("Image", "Snapshot", "Ebs", "Instance", "Volume", "LaunchTemplate"))


def _credential_scope(authorization: str) -> tuple[str, str, str] | None:
    """(access key, region, service) from a SigV4 ``Authorization`` header."""
    marker = "Credential="
    start = authorization.find(marker)
    if start < 0:
        return None
    credential = authorization[start + len(marker) :].split(",", 1)[0].strip()
    parts = credential.split("/")
    if len(parts) != 5:
        return None
    return parts[0], parts[2], parts[3]
