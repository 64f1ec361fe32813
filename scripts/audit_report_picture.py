"""Draw docs/audit-report.png: the HTML report of an audit of a small organization on the sandbox, rendered
by headless Chromium (Debian's ``chromium`` package) as a user would see it in a browser.

    python scripts/audit_report_picture.py [--html docs/audit-report.html] [--png docs/audit-report.png]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

BUILDER, DEV, PROD, DATA, VENDOR = "111111111111", "222222222222", "333333333333", "555555555555", "444444444444"
REGIONS = ("us-east-1", "eu-west-1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    docs = Path(__file__).resolve().parents[1] / "docs"
    parser.add_argument("--html", type=Path, default=Path(tempfile.gettempdir()) / "audit-report.html")
    parser.add_argument("--png", type=Path, default=docs / "audit-report.png")
    args = parser.parse_args()
    from amishare import api
    from amishare.policy import key_policy
    from amishare.render import audit_report
    from amishare.sandbox import Sandbox

    with Sandbox() as sb, tempfile.TemporaryDirectory() as scratch:
        _, ous = sb.create_organization(BUILDER, {"workloads": [DEV, PROD], "data": [DATA]})
        for account in (DEV, PROD, DATA):
            sb.create_role(account, "AuditRole", trusted_account=BUILDER)

        def key(region: str, *accounts: str) -> str:
            admin = {
                "Sid": "Admin",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{BUILDER}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
            access = key_policy.KeyAccess(accounts=frozenset(accounts))
            statements = [admin, *key_policy.statements_for(region, access)] if accounts else [admin]
            return sb.create_key(BUILDER, region, policy={"Version": "2012-10-17", "Statement": statements})

        def share(region: str, image: str, account: str, *, snapshots: bool = True) -> None:
            ec2 = sb.session(BUILDER, region).client("ec2")
            ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": account}]})
            for mapping in (
                ec2.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"] if snapshots else []
            ):
                ec2.modify_snapshot_attribute(
                    SnapshotId=mapping["Ebs"]["SnapshotId"],
                    Attribute="createVolumePermission",
                    OperationType="add",
                    UserIds=[account],
                )

        for region in REGIONS:
            good = sb.seed_image(
                BUILDER, region, f"golden-al2023-{region}", volumes_gib=[8, 16], kms_key=key(region, DEV, PROD)
            )
            share(region, good, DEV)
            share(region, good, PROD)
        web = sb.seed_image(BUILDER, REGIONS[0], "web-2026.11", kms_key=key(REGIONS[0], DEV))
        share(REGIONS[0], web, DEV)
        share(REGIONS[0], web, PROD, snapshots=False)  # launch permission alone: PROD cannot launch or copy
        share(REGIONS[0], web, VENDOR)  # outside the organization
        ec2 = sb.session(BUILDER, REGIONS[0]).client("ec2")
        ec2.modify_image_attribute(ImageId=web, LaunchPermission={"Add": [{"OrganizationalUnitArn": ous["data"]}]})
        tools = sb.seed_image(BUILDER, REGIONS[0], "tools-public", kms_key=None)
        ec2.modify_image_attribute(ImageId=tools, LaunchPermission={"Add": [{"Group": "all"}]})
        for region in REGIONS:
            for account in (BUILDER, DEV, PROD, DATA):
                if (account, region) != (BUILDER, REGIONS[1]):
                    sb.session(account, region).client("ec2").enable_image_block_public_access(
                        ImageBlockPublicAccessState="block-new-sharing"
                    )
        os.environ.update(sb.credentials(BUILDER))
        (Path(scratch) / "amishare.toml").write_text(
            f'[defaults]\nregion = "{REGIONS[0]}"\nrole_name = "AuditRole"\nendpoint_url = "{sb.endpoint_url}"\n'
            f'journal = "{Path(scratch) / "journal.sqlite3"}"\n'
        )
        found = api.audit(api.settings(cwd=Path(scratch)), api.AuditRequest(org=True, regions=tuple(REGIONS)))
        args.html.write_text(audit_report.audit_html(found, title="amishare audit: an organization of four accounts"))
        print(json.dumps({"scanned": dict(found.scanned), "findings": len(found.findings)}))
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print(f"HTML report: {args.html} (install Debian's chromium to draw the picture)")
        return 0
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1100,1000",
            f"--screenshot={args.png}",
            args.html.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
    )
    print(f"picture: {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
