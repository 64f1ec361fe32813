"""cleanup's world (tests/integration/test_cleanup.py; tests/integration/test_printed_fixes_run.py runs the commands
its warning prints): four images of one family in OWNER's REGION, a role in TARGET, an amishare.toml naming them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from amishare import api
from amishare.sandbox import Sandbox
from tests.support.key_policies import SCOPED, allow, policy_document
from tests.support.world import OWNER, REGION, TARGET, share_by_hand

NOW = dt.datetime.now(dt.UTC)


def ago(days: int) -> dt.datetime:
    """``days`` before the module was loaded."""
    return NOW - dt.timedelta(days=days)


class World:
    """Four images of one family, 200, 150 and 120 days old and a recent one; a role in TARGET."""

    def __init__(self, sb: Sandbox, tmp_path: Path) -> None:
        self.sb, self.tmp_path = sb, tmp_path
        self.key = sb.create_key(OWNER, REGION, alias="golden", policy=policy_document())
        self.old = [
            sb.seed_image(
                OWNER, REGION, f"golden-al2023-2026.0{n}.01", volumes_gib=[8, 16], kms_key=self.key, created=ago(days)
            )
            for n, days in ((1, 200), (2, 150), (3, 120))
        ]
        self.recent = sb.seed_image(OWNER, REGION, "golden-al2023-2026.11.01", kms_key=self.key, created=ago(10))
        sb.create_role(TARGET, "AmiShareRole", trusted_account=OWNER)
        (tmp_path / "amishare.toml").write_text(
            f'[defaults]\nregion = "{REGION}"\nrole_name = "AmiShareRole"\nendpoint_url = "{sb.endpoint_url}"\n'
            f'journal = "{tmp_path / "journal.sqlite3"}"\n'
        )

    @property
    def ec2(self) -> Any:
        return self.sb.session(OWNER, REGION).client("ec2")

    def cleanup(self, **options: Any) -> api.Outcome:
        """amishare cleanup of the golden family (old and unused), as OWNER (the environment's credentials)."""
        options.setdefault("action", "deregister")
        options.setdefault("name", "golden-*")
        options.setdefault("older_than", "90d")
        options.setdefault("unused_for", "30d")
        dry_run = options.pop("dry_run", False)
        settings = api.settings(api.Flags(region=REGION), cwd=self.tmp_path)  # REGION whatever AWS_REGION says
        return api.cleanup(settings, api.CleanupRequest(**options), dry_run=dry_run)

    def left(self) -> set[str]:
        return {i["ImageId"] for i in self.ec2.describe_images(Owners=["self"])["Images"]}

    def snapshots(self, image: str) -> list[str]:
        mappings = self.ec2.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"]
        return [m["Ebs"]["SnapshotId"] for m in mappings]

    def admitted_by_hand(self) -> tuple[dict[str, Any], str]:
        """The oldest image shared with TARGET by hand, its key admitting TARGET through a statement of someone's
        own (``TeamAccess``) and a grant made by hand (``by-hand``): that statement and the grant's id."""
        hand = {**allow(condition=SCOPED), "Sid": "TeamAccess"}
        kms = self.sb.session(OWNER, REGION).client("kms")
        kms.put_key_policy(KeyId=self.key, PolicyName="default", Policy=json.dumps(policy_document(hand)))
        grant = kms.create_grant(
            KeyId=self.key, GranteePrincipal=f"arn:aws:iam::{TARGET}:root", Operations=["Decrypt"], Name="by-hand"
        )["GrantId"]
        share_by_hand(self.ec2, self.old[0], TARGET)
        return hand, str(grant)
