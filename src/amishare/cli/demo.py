"""``amishare demo``: the story of a golden image on aws/ebs, on an embedded local AWS."""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.rule import Rule
from rich.table import Table

from amishare.cli import demo_engine, demo_manifest
from amishare.cli.progress import progress_view
from amishare.render.checks import audit_text, doctor_text, gates_text, verify_text
from amishare.render.plan import plan_text, result_text
from amishare.render.transfer import transfer_text
from amishare.render.wrap import fit
from amishare.sandbox import demo_world as story

if TYPE_CHECKING:
    from amishare.api import Settings


class FittedConsole(Console):
    """The story's console: its text fitted to the width as every command's is (render/wrap.py: wrapped at words
    with a hanging indent, an id or a command never cut), and a chapter's heading too long for its rule printed
    under it, whole (a rule cuts its title)."""

    def print(self, *objects: Any, **options: Any) -> None:
        if len(objects) == 1 and isinstance(objects[0], Rule):
            title = str(objects[0].title)
            if len(title) + 6 > self.width:  # the rule's ends and the spaces around its title
                super().print(Rule(), **options)
                super().print(fit(title, self.width), markup=False, soft_wrap=True)
                return
        if objects and all(isinstance(o, str) for o in objects):
            objects = tuple(fit(o, self.width) for o in objects)
            options.setdefault("soft_wrap", True)  # fitted already: a command longer than a line is not folded
        super().print(*objects, **options)


@click.command()
@click.option(
    "--copy-seconds-per-gib",
    type=click.FloatRange(min=0),
    default=0.05,
    show_default=True,
    help="How long sandbox copies stay pending, per GiB (0.05: a 16 GiB snapshot copies in 0.8 s).",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the audit's HTML report to FILE (open it in a browser).",
)
def demo(copy_seconds_per_gib: float, report_path: str | None) -> None:
    """Run amishare's story on an embedded sandbox (no AWS account needed): plan, re-encrypt, share with two
    accounts and an OU, show the gates, prove a consumer can copy, revoke one account; then hand the image over
    to three accounts in two regions (transfer); verify, doctor and audit the result; clean up old builds; keep
    a family in step with a manifest (plan, apply, drift), then by the serverless engine when its next version is
    published; the policies and stacks it needs."""
    from amishare import api
    from amishare.sandbox import Sandbox

    console = FittedConsole(highlight=False)
    say = functools.partial(console.print, markup=False)
    with Sandbox(copy_seconds_per_gib=copy_seconds_per_gib) as sb, tempfile.TemporaryDirectory() as scratch:
        world = story.seed(sb)
        os.environ.update(sb.credentials(world.builder))  # amishare acts as the builder account
        (Path(scratch) / "amishare.toml").write_text(
            story.config_text(sb.endpoint_url, str(Path(scratch) / "journal.sqlite3"))
        )
        settings = api.settings(cwd=Path(scratch))
        ou = world.ou_arns["workloads/dev"]
        targets = [*world.consumers[:2], ou]
        console.print(Rule("1. The golden image"))
        say(
            f"Local AWS at {sb.endpoint_url}. Builder {world.builder} owns {world.golden_image}, encrypted "
            f"with aws/ebs. Consumers {', '.join(world.consumers)} are in OU {ou.rsplit('/', 1)[1]}. amishare's "
            f"configuration:\n{story.config_text(sb.endpoint_url, 'journal.sqlite3')}"
        )
        console.print(Rule("2. The plan (amishare share --dry-run)"))
        planned = api.share(
            settings,
            api.ShareRequest(world.golden_image, tuple(targets), reencrypt_key=story.SHARE_KEY_ALIAS),
            dry_run=True,
        )
        say(plan_text(planned.plan))
        console.print(Rule("3. Apply: re-encrypt, then open all three gates"))
        outcome = api.share(
            settings, api.ShareRequest(world.golden_image, tuple(targets), reencrypt_key=story.SHARE_KEY_ALIAS)
        )
        assert outcome.result is not None
        say(result_text(outcome.result))
        shared = outcome.result.subject_image or world.golden_image
        console.print(Rule("4. The gates (amishare show)"))
        say(gates_text(api.show(settings, api.ShowRequest(shared))))
        console.print(Rule("5. Proof: consumers copy the image into their own accounts"))
        for account in (*world.consumers, world.outsider):
            _proof(console, story.prove_copy(sb, world, account, shared))
        console.print(Rule(f"6. Revoke {world.consumers[0]} (amishare revoke)"))
        revoked = api.revoke(settings, api.RevokeRequest(world.golden_image, (world.consumers[0],)))
        say(result_text(revoked.result) if revoked.result else plan_text(revoked.plan))
        for account in world.consumers:
            _proof(console, story.prove_copy(sb, world, account, shared))
        console.print(Rule("7. Again: nothing left to do"))
        say(
            plan_text(
                api.share(
                    settings,
                    api.ShareRequest(world.golden_image, (world.consumers[1],), reencrypt_key=story.SHARE_KEY_ALIAS),
                    dry_run=True,
                ).plan
            )
        )
        _transfer(console, sb, world, settings)
        _preflight(console, sb, world, settings)
        _verify(console, world, settings)
        _doctor(console, sb, world, settings, shared)
        _audit(console, sb, world, settings, shared, report_path)
        _cleanup(console, sb, world, settings)
        demo_manifest.chapter(console, sb, world, settings, Path(scratch))
        demo_engine.chapter(console, sb, world, Path(scratch))
        _least_privilege(console)


def _transfer(console: Console, sb: Any, world: story.DemoWorld, settings: Settings) -> None:
    from amishare import api

    console.print(Rule("8. Hand over ownership: three accounts, two regions (amishare transfer)"))
    names = [f"consumer-{n}" for n in range(1, len(world.consumers) + 1)]
    request = api.TransferRequest(
        world.golden_image,
        tuple(names),
        source=world.builder,
        regions=story.REGIONS,
        ssm_parameter=story.PARAMETER,
        tags=("distributed-by=amishare",),
    )
    with progress_view(True) as view:
        outcome = api.transfer(
            settings,
            request,
            hooks=api.Hooks(
                confirm=view.confirm(lambda plan: True), on_event=view.event, on_poll=view.poll, progress=view.live
            ),
        )
    assert outcome.result is not None
    console.print(transfer_text(outcome.result), markup=False)
    table = Table(title=f"Copies now owned by their destinations (each with its own key; {story.PARAMETER} names it)")
    for column, whole in (("account", 12), ("region", 9), ("image", 21)):
        table.add_column(column, min_width=whole, no_wrap=True)  # ids are never cut: the other columns fold
    for column in ("state", "encrypted with", story.PARAMETER):
        table.add_column(column, overflow="fold")
    for account in world.consumers:
        for region in story.REGIONS:
            session = sb.session(account, region)
            aliases = {a.get("TargetKeyId"): a["AliasName"] for a in session.client("kms").list_aliases()["Aliases"]}
            images = session.client("ec2").describe_images(
                Owners=["self"], Filters=[{"Name": "tag:amishare:run", "Values": [outcome.result.run_id]}]
            )["Images"]
            parameter = session.client("ssm").get_parameter(Name=story.PARAMETER)["Parameter"]["Value"]
            for image in images:
                keys = {m["Ebs"]["KmsKeyId"].rsplit("/", 1)[-1] for m in image["BlockDeviceMappings"] if "Ebs" in m}
                table.add_row(
                    account,
                    region,
                    image["ImageId"],
                    image["State"],
                    ", ".join(aliases.get(k, k) for k in sorted(keys)),
                    "this image" if parameter == image["ImageId"] else parameter,
                )
    console.print(table)
    console.print(Rule("8b. The same transfer again: every destination owns its copy, nothing is redone"))
    before = len([c for c in sb.calls() if c.mutating])
    again = api.transfer(settings, request, hooks=api.Hooks(confirm=lambda plan: True))
    changed = len([c for c in sb.calls() if c.mutating]) - before
    console.print(plan_text(again.plan), markup=False)
    console.print(f"mutating calls made: {changed}", markup=False)


def _preflight(console: Console, sb: Any, world: story.DemoWorld, settings: Settings) -> None:
    from amishare import api
    from amishare.errors import PlanRefused

    console.print(Rule(f"9. Checked before any change: a destination amishare cannot act in ({world.outsider})"))
    sb.clear_calls()
    request = api.TransferRequest(
        world.golden_image,
        ("consumer-1", world.outsider),
        source=world.builder,
        regions=story.REGIONS,
        dest_key=story.CONSUMER_KEY_ALIAS,
    )
    try:
        api.transfer(settings, request, hooks=api.Hooks(confirm=lambda plan: True))
    except PlanRefused as refused:
        console.print(f"refused (exit {refused.exit_code}): {refused}", markup=False)
    changed = [c for c in sb.calls() if c.mutating]
    console.print(f"changes made meanwhile, from the sandbox's call log: {len(changed)}")


def _verify(console: Console, world: story.DemoWorld, settings: Settings) -> None:
    from amishare import api

    console.print(Rule("10. Verify encryption for CI (amishare verify --shareable)"))
    golden = api.verify(settings, api.VerifyRequest(images=(world.golden_image,), shareable=True))
    copies = api.verify(
        settings,
        api.VerifyRequest(tag=f"amishare:source-image={world.golden_image}", key=story.SHARE_KEY_ALIAS, shareable=True),
    )
    console.print(verify_text(golden + copies), markup=False)


def _doctor(console: Console, sb: Any, world: story.DemoWorld, settings: Settings, shared: str) -> None:
    from amishare import api

    revoked, kept = world.consumers[0], world.consumers[1]
    console.print(Rule(f"11. Why can't {revoked} use the image any more? (amishare doctor)"))
    needs = ("see", "launch", "copy")
    console.print(doctor_text(api.doctor(settings, api.DoctorRequest(shared, revoked)), needs), markup=False)
    console.print(doctor_text(api.doctor(settings, api.DoctorRequest(shared, kept)), needs), markup=False)


def _audit(
    console: Console, sb: Any, world: story.DemoWorld, settings: Settings, shared: str, report_path: str | None
) -> None:
    from amishare import api
    from amishare.render import audit_report as reports

    console.print(Rule("12. Who can use what, across the organization (amishare audit --org --regions ...)"))
    sb.session(world.builder, world.region).client("ec2").modify_snapshot_attribute(
        SnapshotId=_a_snapshot(sb, world, shared),
        Attribute="createVolumePermission",
        OperationType="add",
        UserIds=[world.outsider],
    )  # a hand-made share amishare never made: the audit must find it
    found = api.audit(settings, api.AuditRequest(org=True, regions=tuple(story.REGIONS)))
    console.print(audit_text(found), markup=False)
    if report_path:
        Path(report_path).write_text(reports.audit_html(found, title="amishare audit: the demo organization"))
        console.print(f"HTML report: {report_path}", markup=False)


def _cleanup(console: Console, sb: Any, world: story.DemoWorld, settings: Settings) -> None:
    from amishare import api

    console.print(Rule("13. Old builds go, what is in use stays (amishare cleanup --older-than 30d --keep-last 1)"))
    old = story.seed_old_builds(sb)
    console.print(
        f"The builder also has {len(old)} older builds of the golden image; a launch template still uses {old[0]}.",
        markup=False,
    )
    request = api.CleanupRequest(
        action="deregister", name="golden-al2023-*", older_than="30d", keep_last=1, unused_for="30d"
    )
    outcome = api.cleanup(settings, request)
    console.print(plan_text(outcome.plan), markup=False)
    if outcome.result is not None:
        console.print(result_text(outcome.result), markup=False)


def _least_privilege(console: Console) -> None:
    from amishare.generate import bootstrap, iam_policy

    console.print(Rule("16. What it all needed: the generated policies and the stacks to deploy (iam, bootstrap)"))
    table = Table(title="Least-privilege policies, derived from the calls above (amishare iam)")
    for column in ("role", "statements", "IAM actions"):
        table.add_column(column)
    examples = []
    for name, role in (("source", "source"), ("destination account", iam_policy.TARGET_ROLES)):
        document = iam_policy.policy(role, iam_policy.COMMANDS)
        actions = sorted({a for s in document["Statement"] for a in s["Action"]})
        table.add_row(name, str(len(document["Statement"])), str(len(actions)))
        examples.append(f"  {name}: {', '.join(actions[:3])} ...")  # under the table: an action name is never cut
    console.print(table)
    console.print("\n".join(["For example:", *examples]), markup=False)
    console.print("`amishare bootstrap --out DIR` would write:", markup=False)
    for file, template in bootstrap.templates().items():
        kinds = sorted({r["Type"] for r in template["Resources"].values()})
        console.print(f"  {file:<22} {', '.join(kinds)}", markup=False)
    console.print(
        "Run by roles carrying exactly these policies on a local AWS that enforces them, these commands succeed, and "
        "every action in them is the only one allowing some call (tests/integration/test_least_privilege.py).",
        markup=False,
    )


def _a_snapshot(sb: Any, world: story.DemoWorld, image_id: str) -> str:
    ec2 = sb.session(world.builder, world.region).client("ec2")
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    return str(image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"])


def _proof(console: Console, proof: story.CopyProof) -> None:
    mark = "[green]can copy[/green]" if proof.copied else "[red]cannot copy[/red]"
    console.print(f"  {proof.account}: {mark}: {escape(proof.detail)}")
