"""The worlds of doctor (tests/integration/test_doctor.py, tests/integration/test_printed_fixes_run.py): a healthy one,
OWNER's image shared with a target through all three gates, and one breaker per doctor code that produces exactly
that code, as a user would break it through the AWS API. A world's target is TARGET unless it is given another
account (worlds side by side in one sandbox), its share key ``alias/share`` unless given another alias."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from amishare.cli.main import cli
from amishare.policy import key_policy
from amishare.policy.access import AUTOSCALING_GRANT_OPERATIONS, AUTOSCALING_ROLE
from amishare.sandbox import Sandbox
from amishare.sandbox.state import Transition
from tests.support import key_policies
from tests.support.world import OWNER, REGION, REGION2, TARGET, Clients, share_by_hand


def access(target: str) -> key_policy.KeyAccess:
    """What a world's share key admits: ``target`` through EC2, and its Auto Scaling role's grants."""
    return key_policy.KeyAccess(accounts=frozenset({target}), autoscaling=frozenset({target}))


def policy_document(*statements: dict[str, Any]) -> str:
    """A key policy's text: OWNER's admin statement, then ``statements``."""
    return json.dumps(key_policies.policy_document(*statements))


class World:
    """A healthy world: OWNER's image on its share key, shared with the target through all three gates; the
    target with a role OWNER may assume, its own key ``alias/mine`` and its Auto Scaling role granted the key."""

    def __init__(self, sb: Sandbox, aws: Clients, tmp_path: Path, target: str = TARGET, alias: str = "share") -> None:
        self.sb, self.aws, self.tmp_path, self.target, self.alias = sb, aws, tmp_path, target, f"alias/{alias}"
        statements = key_policy.statements_for(REGION, access(target))
        self.key = sb.create_key(OWNER, REGION, alias=alias, policy=json.loads(policy_document(*statements)))
        self.image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8, 16], kms_key=self.key)
        share_by_hand(aws(OWNER, "ec2"), self.image, target)
        sb.create_role(target, "AmiCopyRole", trusted_account=OWNER)
        self.dest_key = sb.create_key(target, REGION, alias="mine")
        aws(target, "kms").create_grant(
            KeyId=self.key,
            GranteePrincipal=AUTOSCALING_ROLE.format(account=target),
            Operations=list(AUTOSCALING_GRANT_OPERATIONS),
        )
        (tmp_path / "amishare.toml").write_text(
            f'[accounts.target]\nid = "{target}"\nrole = "AmiCopyRole"\nkeys = {{ {REGION} = "alias/mine" }}\n'
        )

    @property
    def owner(self) -> Any:
        """OWNER's EC2 client in REGION."""
        return self.aws(OWNER, "ec2")

    def put_policy(self, *statements: dict[str, Any]) -> None:
        """Replace the share key's policy with the admin statement and ``statements``."""
        self.aws(OWNER, "kms").put_key_policy(KeyId=self.key, PolicyName="default", Policy=policy_document(*statements))

    def snapshots(self) -> list[str]:
        """The image's snapshots."""
        mappings = self.owner.describe_images(ImageIds=[self.image])["Images"][0]["BlockDeviceMappings"]
        return [m["Ebs"]["SnapshotId"] for m in mappings]

    def doctor(self, *args: str) -> tuple[int, dict[str, Any]]:
        """``amishare doctor IMAGE ARGS --output json`` as OWNER, with the world's config: its exit code and report."""
        env: dict[str, Any] = {**self.sb.credentials(OWNER), "AWS_REGION": REGION}
        env["AWS_ENDPOINT_URL"] = self.sb.endpoint_url
        env["AMISHARE_JOURNAL"] = str(self.tmp_path / "journal.sqlite3")
        result = CliRunner().invoke(
            cli,
            ["doctor", self.image, "--config", str(self.tmp_path / "amishare.toml"), *args, "--output", "json"],
            env=env,
        )
        return result.exit_code, json.loads(result.output)


def scoped(target: str, via_region: str = REGION) -> dict[str, Any]:
    """amishare's statement admitting ``target`` through EC2 in ``via_region``."""
    statement = key_policy.statements_for(via_region, key_policy.KeyAccess(accounts=frozenset({target})))[0]
    return dict(statement)


def not_in_region(w: World) -> tuple[str, ...]:
    return ("--region", REGION2)


def deregistered(w: World) -> None:
    w.owner.deregister_image(ImageId=w.image)


def pending(w: World) -> None:
    """Issue 19: a pending image (a copy still being made) was called DEREGISTERED."""
    w.sb.world.images[w.image].transition = Transition(started=w.sb.world.clock(), duration=3600.0)


def failed(w: World) -> None:
    w.sb.world.images[w.image].transition = Transition(started=w.sb.world.clock() - 60, duration=1.0, failure="bad")


def disabled(w: World) -> None:
    w.owner.disable_image(ImageId=w.image)


def deprecated(w: World) -> None:
    w.sb.world.images[w.image].deprecation_time = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)


def unshared(w: World) -> None:
    w.owner.modify_image_attribute(ImageId=w.image, LaunchPermission={"Remove": [{"UserId": w.target}]})


def snapshot_unshared(w: World) -> None:
    w.owner.modify_snapshot_attribute(
        SnapshotId=w.snapshots()[1], Attribute="createVolumePermission", OperationType="remove", UserIds=[w.target]
    )


def aws_managed(w: World) -> None:
    w.image = w.sb.seed_image(OWNER, REGION, "default-key", volumes_gib=[8], kms_key="aws/ebs")


def policy_without_target(w: World) -> None:
    w.put_policy()


def condition_of_another_region(w: World) -> None:
    w.put_policy(scoped(w.target, REGION2))


def explicit_deny(w: World) -> None:
    deny = {
        "Sid": "NoDecryptForTarget",
        "Effect": "Deny",
        "Principal": {"AWS": f"arn:aws:iam::{w.target}:root"},
        "Action": "kms:Decrypt",
        "Resource": "*",
    }
    w.put_policy(*key_policy.statements_for(REGION, access(w.target)), deny)


def key_disabled(w: World) -> None:
    w.aws(OWNER, "kms").disable_key(KeyId=w.key)


def dest_key_disabled(w: World) -> None:
    w.aws(w.target, "kms").disable_key(KeyId=w.dest_key)


def no_autoscaling_grant(w: World) -> None:
    kms = w.aws(OWNER, "kms")
    for grant in kms.list_grants(KeyId=w.key)["Grants"]:
        kms.revoke_grant(KeyId=w.key, GrantId=grant["GrantId"])


def allowed_amis(w: World) -> None:
    ec2 = w.aws(w.target, "ec2")
    ec2.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[{"ImageProviders": ["123456789012"]}])
    ec2.enable_allowed_images_settings(AllowedImagesSettingsState="enabled")


def deleted_role(w: World) -> None:
    statement = scoped(w.target)
    statement["Principal"] = {"AWS": "AROAEXAMPLEDELETED123"}  # as AWS shows a deleted role
    statement["Condition"] = {"StringEquals": {"kms:ViaService": f"ec2.{REGION}.amazonaws.com"}}
    w.put_policy(statement)


def scp_denies_launch(w: World) -> tuple[str, ...]:
    """An SCP of the target's organization: nothing the owner can read, and every gate it can is open."""
    w.sb.create_organization(OWNER, {"workloads": [w.target]})
    org = w.aws(OWNER, "organizations")
    content = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "ec2:RunInstances", "Resource": "*"}]}
    )
    policy = org.create_policy(Content=content, Description="", Name="no-launch", Type="SERVICE_CONTROL_POLICY")
    org.attach_policy(PolicyId=policy["Policy"]["PolicySummary"]["Id"], TargetId=w.target)
    return ("--probe",)  # the dry runs that find it


Breaker = Callable[[World], Any]
ALL = ("see", "launch", "copy", "autoscaling-launch")
# (code, how to break the world, capabilities that fail, exit code with the default --need)
WORLDS: list[tuple[str, Breaker, tuple[str, ...], int]] = [
    ("NOT_IN_REGION", not_in_region, ALL, 13),
    ("DEREGISTERED", deregistered, ALL, 13),
    ("PENDING", pending, ALL, 13),
    ("NOT_AVAILABLE", failed, ALL, 13),
    ("DISABLED", disabled, ALL, 13),
    ("DEPRECATED", deprecated, (), 0),
    ("NO_LAUNCH_PERMISSION", unshared, ALL, 13),
    ("SNAPSHOT_NOT_SHARED", snapshot_unshared, ("copy",), 13),
    ("AWS_MANAGED_KEY", aws_managed, ALL, 13),
    ("KEY_POLICY_MISSING_ACCOUNT", policy_without_target, ("launch", "copy", "autoscaling-launch"), 13),
    ("KEY_CONDITION_MISMATCH", condition_of_another_region, ("launch", "copy", "autoscaling-launch"), 13),
    ("KEY_EXPLICIT_DENY", explicit_deny, ("launch", "copy", "autoscaling-launch"), 13),
    ("KEY_DISABLED", key_disabled, ("launch", "copy", "autoscaling-launch"), 13),
    ("DEST_KEY_UNUSABLE", dest_key_disabled, ("copy",), 13),
    ("AUTOSCALING_GRANT_MISSING", no_autoscaling_grant, ("autoscaling-launch",), 0),
    ("ALLOWED_AMIS_BLOCKS", allowed_amis, ALL, 13),
    ("ROLE_PRINCIPAL_ID", deleted_role, ("launch", "copy", "autoscaling-launch"), 13),
    ("NOT_VISIBLE_FROM_HERE", scp_denies_launch, ("launch", "autoscaling-launch"), 13),
]
