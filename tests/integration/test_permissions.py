"""The permissions each action kind declares are true: every call a step makes is among them.

Every flow runs through the sandbox; amishare labels each call with the step that made it (its
User-Agent carries ``amishare-step/<kind>``, as CloudTrail would show), and the sandbox's call log
is checked against the kind's declared permissions (``Action.declared``) and observation's reads.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import pytest

from amishare import api
from amishare.engine.action import ActionKind
from amishare.engine.kinds import KINDS
from amishare.engine.permissions import READ_NEEDS, Principal
from amishare.sandbox import Sandbox
from amishare.sandbox.state import Call
from tests.support.world import OTHER, OWNER, REGION, REGION2, TARGET, seed_destinations

pytestmark = pytest.mark.slow  # every flow, with every call checked against the declared permissions
STEP = " amishare-step/"


def _step(call: Call) -> str | None:
    return call.user_agent.split(STEP, 1)[1].split()[0] if STEP in call.user_agent else None


def _allowed(step: str, iam_action: str, by_caller: bool) -> bool:
    if step == "observe":
        return any(fnmatch.fnmatchcase(iam_action, p.action) for p in READ_NEEDS) or iam_action == "sts:AssumeRole"
    cls = KINDS[ActionKind(step)]
    if iam_action == "sts:AssumeRole":
        return by_caller  # declared for every action that acts through a role, as the caller
    matches = [p for p in cls.needs if fnmatch.fnmatchcase(iam_action, p.action)]
    if not matches:
        return False
    # the caller makes the source's calls; a destination's calls are made by its role
    return any((p.principal or Principal.SOURCE) is not Principal.DESTINATION or not by_caller for p in matches)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    with Sandbox(copy_seconds_per_gib=0.01) as sb:
        sb.reset()
        seed_destinations(sb)
        (tmp_path / "amishare.toml").write_text(
            f'[defaults]\nregion = "{REGION}"\nshare_key = "alias/amishare-share"\nrole_name = "AmiShareRole"\n'
            f'endpoint_url = "{sb.endpoint_url}"\njournal = "{tmp_path / "journal.sqlite3"}"\n'
            + "".join(
                f'[accounts.{name}]\nid = "{account}"\nkeys = {{ {REGION} = "alias/mine", {REGION2} = "alias/mine" }}\n'
                for name, account in (("dev", TARGET), ("qa", OTHER))
            )
        )
        for name, value in sb.credentials(OWNER).items():
            monkeypatch.setenv(name, value)
        yield sb, api.settings(cwd=tmp_path)


def _flows(sb: Sandbox, settings: api.Settings) -> set[str]:
    """share (re-encrypting), share by grants, revoke, transfer (staged, two regions), a live share with
    Auto Scaling grants; returns the kinds whose steps ran."""
    ran: set[str] = set()

    def check(outcome: api.Outcome) -> None:
        assert outcome.result is not None and outcome.result.status == "succeeded", (
            [(r.key, r.error) for r in outcome.result.failures] if outcome.result else None
        )
        ran.update(a.kind.value for a in outcome.plan.actions)

    golden = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8, 16], kms_key="aws/ebs")
    check(api.share(settings, api.ShareRequest(golden, ("dev", "qa"))))
    check(api.revoke(settings, api.RevokeRequest(golden, ("qa",))))
    app_key = sb.create_key(OWNER, REGION, alias="app")
    app = sb.seed_image(OWNER, REGION, "app", volumes_gib=[8], kms_key=app_key)
    check(api.share(settings, api.ShareRequest(app, ("qa",), key_access="grant")))
    check(api.revoke(settings, api.RevokeRequest(app, ("qa",))))
    other = sb.seed_image(OWNER, REGION, "other", volumes_gib=[8], kms_key="aws/ebs")
    request = api.TransferRequest(other, ("dev", "qa"), source=OWNER, regions=(REGION, REGION2))
    check(api.transfer(settings, request))
    for region in (REGION, REGION2):  # a distribution: parameter, launch template, deprecation, protection
        sb.session(TARGET, region).client("ec2").create_launch_template(LaunchTemplateName="web", LaunchTemplateData={})
    shipped = sb.seed_image(OWNER, REGION, "shipped", volumes_gib=[8], kms_key="aws/ebs")
    distribution = api.TransferRequest(
        shipped,
        ("dev",),
        source=OWNER,
        regions=(REGION, REGION2),
        ssm_parameter="/golden",
        launch_template="web",
        set_default=True,
        deprecate_after="30d",
        deregistration_protection=True,
        tags=("team=platform",),
    )
    check(api.transfer(settings, distribution))
    for n in range(2):  # a cleanup: disable one family, deregister another (its shares revoked first)
        sb.seed_image(OWNER, REGION, f"old-a-{n}", volumes_gib=[8], kms_key=None)
    retired = sb.seed_image(OWNER, REGION, "old-b-1", volumes_gib=[8], kms_key=app_key)
    sb.session(OWNER, REGION).client("ec2").modify_image_attribute(
        ImageId=retired, LaunchPermission={"Add": [{"UserId": TARGET}]}
    )
    check(api.cleanup(settings, api.CleanupRequest(action="disable", name="old-a-*", keep_last=0)))
    check(
        api.cleanup(settings, api.CleanupRequest(action="deregister", name="old-b-*", include_shared=True, keep_last=0))
    )
    live = sb.seed_image(OWNER, REGION, "live", volumes_gib=[8], kms_key="aws/ebs")
    check(
        api.transfer(
            settings, api.TransferRequest(live, ("dev",), source=OWNER, keep_share=True, grant_autoscaling=True)
        )
    )
    _manifest_flow(sb, settings, check)
    return ran


def _manifest_flow(sb: Sandbox, settings: api.Settings, check: Any) -> None:
    """A manifest's family transferred to dev, then a second version: the first's copy is marked retired and
    deprecated ([retention])."""
    from amishare.api.converge import ConvergeRequest, apply_manifest

    assert settings.config.path is not None
    manifest = settings.config.path.parent / "estate.toml"
    manifest.write_text(
        f'version = 1\n[defaults]\nsource = "{OWNER}"\nregions = ["{REGION}"]\n[[image]]\nfamily = "f"\n'
        'select = { ssm_parameter = "/family" }\nversions = 1\n  [[image.distribute]]\n  to = ["dev"]\n'
        '  mode = "transfer"\n[retention]\ndeprecate_after = "30d"\n'
    )
    ssm = sb.session(OWNER, REGION).client("ssm")
    for n in range(2):
        image = sb.seed_image(OWNER, REGION, f"family-{n}", volumes_gib=[8], kms_key="alias/amishare-share")
        ssm.put_parameter(Name="/family", Value=image, Type="String", DataType="aws:ec2:image", Overwrite=n > 0)
        check(apply_manifest(settings, ConvergeRequest(str(manifest)))[1])


def test_every_call_of_every_step_is_among_its_declared_permissions(world: Any) -> None:
    sb, settings = world
    sb.clear_calls()
    ran = _flows(sb, settings)
    assert ran == {k.value for k in ActionKind}, "a flow for every kind"
    ours = [c for c in sb.calls() if "amishare/" in c.user_agent]
    assert ours and all(_step(c) for c in ours), "every call amishare makes names its step"
    undeclared = sorted(
        {
            (_step(c), f"{c.service}:{c.action}", "caller" if c.account == OWNER else "destination")
            for c in ours
            if not _allowed(str(_step(c)), f"{c.service}:{c.action}", c.account == OWNER)
        }
    )
    assert undeclared == []
    steps_seen = {_step(c) for c in ours}
    assert steps_seen >= {k.value for k in ActionKind} - {"AwaitImage"} | {"observe"}


def test_the_generated_policies_allow_every_call_the_flows_make(world: Any) -> None:
    """``amishare iam``: each call a flow makes is among the actions of the generated policy of the role that made
    it (the caller: source; another account: its role, which in this world serves as destination and auditor)."""
    from amishare.generate import iam_policy

    sb, settings = world
    sb.clear_calls()
    _flows(sb, settings)
    commands = ["share", "revoke", "transfer", "cleanup", "apply"]  # the flows end with a manifest applied
    allowed = {
        role: {a for r in roles for s in iam_policy.policy(r, commands)["Statement"] for a in s["Action"]}
        for role, roles in (("source", ("source",)), ("destination", ("destination", "auditor")))
    }
    missing = sorted(
        {
            (role, f"{c.service}:{c.action}")
            for c in sb.calls()
            if "amishare/" in c.user_agent
            and f"{c.service}:{c.action}" not in iam_policy.NO_PERMISSION_NEEDED
            and f"{c.service}:{c.action}" not in allowed[role := "source" if c.account == OWNER else "destination"]
        }
    )
    assert missing == []
