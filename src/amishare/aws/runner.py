"""The calls that carry out each kind of action (the executor's ``Runner`` for AWS)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from amishare.actions import Action, ActionKind, client_token
from amishare.aws.batching import ImagePoller, Revoker, update_key_access
from amishare.aws.errors import error_code, translate
from amishare.aws.session import RoleRef, Sessions
from amishare.errors import AwsError
from amishare.model import TAG_RUN, TAG_STAGING

MAX_SNAPSHOT_CHANGES = 500  # AWS-RULES.md section 4
COPY_LIMIT_RETRY_FIRST = 1.0  # seconds before asking again when the concurrent copy limit is reached
COPY_LIMIT_RETRY_MAX = 60.0
MAX_ACCOUNTS_PER_IMAGE_CALL = 10_000  # AWS-RULES.md section 4


def _batches(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


class AwsRunner:
    """Performs actions as their account (assuming the role an action names); waits in batches."""

    def __init__(
        self,
        sessions: Sessions,
        *,
        wait_timeout: float = 24 * 3600,
        poll_min: float = 0.2,
        poll_max: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        revoke_window: float = 0.15,
        on_poll: Callable[[str | None, str, list[dict[str, Any]]], None] | None = None,
        snapshot_progress: bool = False,
    ) -> None:
        self.sessions = sessions
        self.wait_timeout = wait_timeout
        self.sleep, self.clock = sleep, clock
        self.key_locks: dict[str, threading.Lock] = {}
        self.poller = ImagePoller(
            sessions,
            poll_min=poll_min,
            poll_max=poll_max,
            clock=clock,
            sleep=sleep,
            on_poll=on_poll,
            snapshot_progress=snapshot_progress,
        )
        self._warmed: set[tuple[str, str | None, str | None, str]] = set()
        self._started = threading.Event()
        self.revoker = Revoker(sessions, window=revoke_window, sleep=sleep, key_locks=self.key_locks)

    def prepare(self, actions: Iterable[Action]) -> None:
        """Warm the clients the destination copies of ``actions`` will need (see ``warm``)."""
        self.warm(
            [
                (a.account, a.params.get("role_arn"), a.params.get("external_id"), a.region)
                for a in actions
                if a.kind is ActionKind.COPY_TO_DESTINATION
            ]
        )

    def warm(self, needs: Iterable[tuple[str, str | None, str | None, str]]) -> None:
        """In the background, assume each (account, role, external id) and make its EC2 client in each
        region, while the run's first steps go on: a client costs about 20 ms of CPU, and a fleet needs
        one per destination and region. A failure here is left for the action to report."""
        todo = [n for n in dict.fromkeys(needs) if n not in self._warmed]
        self._warmed.update(todo)

        def warm_one(account: str, role: str | None, external_id: str | None, region: str) -> None:
            try:
                if role and account != self.sessions.caller_account():
                    self.sessions.assume(RoleRef(account, role, external_id))
                self.sessions.client("ec2", region, None if role is None else account)
            except Exception:
                return

        if todo:

            def warm_all() -> None:
                self._started.wait()  # let the run's first calls go out before competing for the CPU
                for need in todo:
                    warm_one(*need)

            threading.Thread(target=warm_all, name="amishare-warm", daemon=True).start()

    def cancel(self) -> None:
        """The run is interrupted: stop waiting (the copies go on in AWS; ``resume`` picks them up)."""
        self.poller.cancel()

    def run(self, action: Action, params: dict[str, Any], run_id: str) -> dict[str, Any]:
        for value in params.values():
            if isinstance(value, str) and value.startswith("@"):
                raise AwsError(f"{value[1:]} produced no image", operation=action.kind.value)
        self._started.set()
        handler = getattr(self, f"_{action.kind.name.lower()}")
        try:
            return dict(handler(action, params, run_id))
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, action.kind.value, action.account, action.region) from exc

    def _who(self, action: Action) -> str | None:
        """None for the caller's own credentials, else the account (its role assumed on first use)."""
        if action.account == self.sessions.caller_account():
            return None
        role = action.params.get("role_arn")
        if role:
            self.sessions.assume(RoleRef(action.account, role, action.params.get("external_id")))
        return action.account

    def _ec2(self, action: Action) -> Any:
        return self.sessions.client("ec2", action.region, self._who(action))

    def _kms(self, action: Action) -> Any:
        return self.sessions.client("kms", action.region, self._who(action))

    # -------------------------------------------------------------- images
    def _reencrypt_image(self, action: Action, p: dict[str, Any], run_id: str) -> dict[str, Any]:
        return self._copy(action, {**p, "source_region": action.region}, run_id)

    def _stage_image(self, action: Action, p: dict[str, Any], run_id: str) -> dict[str, Any]:
        return self._copy(action, p, run_id)

    def _copy_to_destination(self, action: Action, p: dict[str, Any], run_id: str) -> dict[str, Any]:
        return self._copy(action, p, run_id)

    def _copy(self, action: Action, p: dict[str, Any], run_id: str) -> dict[str, Any]:
        tags = [{"Key": k, "Value": v} for k, v in sorted({**p["tags"], TAG_RUN: run_id}.items())]
        params: dict[str, Any] = {
            "SourceImageId": p["source_image"],
            "SourceRegion": p["source_region"],
            "Name": p["name"],
            "Description": p["description"],
            "ClientToken": client_token(run_id, action.key),
            "TagSpecifications": [{"ResourceType": "image", "Tags": tags}, {"ResourceType": "snapshot", "Tags": tags}],
        }
        if p.get("kms_key"):
            params.update(Encrypted=True, KmsKeyId=p["kms_key"])
        ec2 = self._ec2(action)
        delay = COPY_LIMIT_RETRY_FIRST
        deadline = self.clock() + self.wait_timeout
        while True:
            try:
                response = ec2.copy_image(**params)
                break
            except ClientError as exc:
                # AWS-RULES.md section 4: too many copies in flight in that account and region. Not a
                # throttling error botocore retries: wait for other copies to finish, then ask again
                # (the ClientToken keeps a late success from making a second image).
                if error_code(exc) != "ResourceLimitExceeded" or self.clock() + delay > deadline:
                    raise
                self.sleep(delay)
                delay = min(COPY_LIMIT_RETRY_MAX, delay * 2)
        return {"image_id": response["ImageId"], "kms_key": p.get("kms_key")}

    def _await_image(self, action: Action, p: dict[str, Any], run_id: str) -> dict[str, Any]:
        timeout = float(p.get("timeout", self.wait_timeout))
        started = self.clock()
        image = self.poller.wait(
            self._who(action), action.region, p["image"], timeout, expected=float(p.get("expected") or 0.0)
        )
        return {"image_id": p["image"], "state": image.get("State", "available"), "seconds": self.clock() - started}

    def _delete_staging(self, action: Action, p: dict[str, Any], run_id: str) -> dict[str, Any]:
        """Deregister a staging image and its snapshots, only when its tags prove this run made it."""
        ec2 = self._ec2(action)
        try:
            image = ec2.describe_images(ImageIds=[p["image"]])["Images"][0]
        except ClientError as exc:
            if error_code(exc) == "InvalidAMIID.NotFound":
                return {"image_id": p["image"], "deleted": False, "reason": "already gone"}
            raise
        tags = {t["Key"]: t["Value"] for t in image.get("Tags", [])}
        if tags.get(TAG_RUN) != run_id or tags.get(TAG_STAGING) != "true":
            raise AwsError(
                f"refusing to delete {p['image']}: its tags do not prove that run {run_id} made it "
                f"({TAG_RUN}={tags.get(TAG_RUN)}, {TAG_STAGING}={tags.get(TAG_STAGING)})",
                operation="DeregisterImage",
                account=action.account,
                region=action.region,
            )
        result = ec2.deregister_image(ImageId=p["image"], DeleteAssociatedSnapshots=True)
        return {
            "image_id": p["image"],
            "deleted": True,
            "snapshots": [r["SnapshotId"] for r in result.get("DeleteSnapshotResults", [])],
        }

    def _update_key_access(self, action: Action, p: dict[str, Any], run_id: str) -> dict[str, Any]:
        changed = update_key_access(
            self.sessions,
            self._who(action),
            action.region,
            p["key"],
            add=p.get("add", []),
            remove=p.get("remove", []),
            autoscaling=p.get("autoscaling", []),
            locks=self.key_locks,
        )
        return {"key": p["key"], "changed": changed}

    def _revoke_destination(self, action: Action, p: dict[str, Any], run_id: str) -> dict[str, Any]:
        self.revoker.revoke(
            self._who(action),
            action.region,
            p["image"],
            p.get("key"),
            p["target"],
            image_access=p.get("image_access", True),
        )
        return {"image_id": p["image"], "revoked": p["target"]}

    def _share_image(self, action: Action, p: dict[str, Any], run_id: str) -> dict[str, Any]:
        return self._modify_image(action, p, "Add")

    def _unshare_image(self, action: Action, p: dict[str, Any], run_id: str) -> dict[str, Any]:
        return self._modify_image(action, p, "Remove")

    def _modify_image(self, action: Action, p: dict[str, Any], verb: str) -> dict[str, Any]:
        others = (
            [{"OrganizationArn": a} for a in p["organizations"]]
            + [{"OrganizationalUnitArn": a} for a in p["ous"]]
            + ([{"Group": "all"}] if p["public"] else [])
        )
        calls = 0
        for batch in _batches(p["accounts"], MAX_ACCOUNTS_PER_IMAGE_CALL):
            entries = [{"UserId": a} for a in batch] + (others if calls == 0 else [])
            if entries:
                self._ec2(action).modify_image_attribute(ImageId=p["image"], LaunchPermission={verb: entries})
                calls += 1
        return {"image_id": p["image"], "calls": calls}

    # ----------------------------------------------------------- snapshots
    def _share_snapshots(self, action: Action, p: dict[str, Any], run_id: str) -> dict[str, Any]:
        changes = p["changes"]
        if changes is None:  # the snapshots of an image made by this run
            image = self._ec2(action).describe_images(ImageIds=[p["image"]])["Images"][0]
            changes = [
                {"snapshot": m["Ebs"]["SnapshotId"], "accounts": p["accounts"]}
                for m in image.get("BlockDeviceMappings", [])
                if m.get("Ebs", {}).get("SnapshotId")
            ]
        return self._modify_snapshots(action, changes, "add")

    def _unshare_snapshots(self, action: Action, p: dict[str, Any], run_id: str) -> dict[str, Any]:
        return self._modify_snapshots(action, p["changes"], "remove")

    def _modify_snapshots(self, action: Action, changes: list[dict[str, Any]], operation: str) -> dict[str, Any]:
        calls = 0
        for change in changes:
            for batch in _batches(change["accounts"], MAX_SNAPSHOT_CHANGES):
                self._ec2(action).modify_snapshot_attribute(
                    SnapshotId=change["snapshot"],
                    Attribute="createVolumePermission",
                    OperationType=operation,
                    UserIds=batch,
                )
                calls += 1
        return {"snapshots": [c["snapshot"] for c in changes], "calls": calls}

    # ---------------------------------------------------------------- keys
    def _put_key_policy(self, action: Action, p: dict[str, Any], run_id: str) -> dict[str, Any]:
        kms = self._kms(action)
        current = json.loads(kms.get_key_policy(KeyId=p["key"], PolicyName="default")["Policy"])
        if current != json.loads(p["previous"]):
            raise AwsError(
                f"the policy of key {p['key']} changed since the plan was made: run the command again "
                "to plan from the current policy",
                operation="PutKeyPolicy",
                account=action.account,
                region=action.region,
            )
        kms.put_key_policy(KeyId=p["key"], PolicyName="default", Policy=p["policy"])
        return {"key": p["key"]}

    def _create_grant(self, action: Action, p: dict[str, Any], run_id: str) -> dict[str, Any]:
        response = self._kms(action).create_grant(
            KeyId=p["key"], GranteePrincipal=p["grantee"], Operations=p["operations"], Name=p["name"]
        )
        return {"grant_id": response["GrantId"]}

    def _revoke_grant(self, action: Action, p: dict[str, Any], run_id: str) -> dict[str, Any]:
        self._kms(action).revoke_grant(KeyId=p["key"], GrantId=p["grant_id"])
        return {"grant_id": p["grant_id"]}
