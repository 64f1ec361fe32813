"""The calls that carry out each kind of action (the executor's ``Runner`` for AWS)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from amishare.actions import Action, client_token
from amishare.aws.errors import translate
from amishare.aws.session import Sessions
from amishare.errors import AwsError
from amishare.model import TAG_RUN

MAX_SNAPSHOT_CHANGES = 500  # AWS-RULES.md section 4
MAX_ACCOUNTS_PER_IMAGE_CALL = 10_000  # AWS-RULES.md section 4


def _batches(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


class AwsRunner:
    """Performs actions as the plan's account; waits with backoff and an overall timeout."""

    def __init__(
        self,
        sessions: Sessions,
        *,
        wait_timeout: float = 3 * 3600,
        poll_min: float = 0.5,
        poll_max: float = 15.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.wait_timeout = wait_timeout
        self.poll_min, self.poll_max = poll_min, poll_max
        self.sleep, self.clock = sleep, clock

    def run(self, action: Action, params: dict[str, Any], run_id: str) -> dict[str, Any]:
        handler = getattr(self, f"_{action.kind.name.lower()}")
        try:
            return dict(handler(action, params, run_id))
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, action.kind.value, action.account, action.region) from exc

    def _ec2(self, action: Action) -> Any:
        return self.sessions.client("ec2", action.region)

    def _kms(self, action: Action) -> Any:
        return self.sessions.client("kms", action.region)

    # -------------------------------------------------------------- images
    def _reencrypt_image(self, action: Action, p: dict[str, Any], run_id: str) -> dict[str, Any]:
        tags = [{"Key": k, "Value": v} for k, v in sorted({**p["tags"], TAG_RUN: run_id}.items())]
        response = self._ec2(action).copy_image(
            SourceImageId=p["source_image"],
            SourceRegion=action.region,
            Name=p["name"],
            Description=p["description"],
            Encrypted=True,
            KmsKeyId=p["kms_key"],
            ClientToken=client_token(run_id, action.key),
            TagSpecifications=[{"ResourceType": "image", "Tags": tags}, {"ResourceType": "snapshot", "Tags": tags}],
        )
        return {"image_id": response["ImageId"]}

    def _await_image(self, action: Action, p: dict[str, Any], run_id: str) -> dict[str, Any]:
        ec2 = self._ec2(action)
        deadline = self.clock() + self.wait_timeout
        delay = self.poll_min
        while True:
            image = ec2.describe_images(ImageIds=[p["image"]])["Images"][0]
            state = image.get("State")
            if state == "available":
                return {"image_id": p["image"], "state": state}
            if state in ("failed", "invalid", "deregistered", "error"):
                reason = image.get("StateReason", {}).get("Message", "no reason given")
                raise AwsError(
                    f"image {p['image']} is {state}: {reason}",
                    operation="DescribeImages",
                    account=action.account,
                    region=action.region,
                )
            if self.clock() >= deadline:
                raise AwsError(
                    f"image {p['image']} still {state} after {self.wait_timeout:.0f} s",
                    operation="DescribeImages",
                    account=action.account,
                    region=action.region,
                )
            self.sleep(delay)
            delay = min(self.poll_max, delay * 1.5)

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
