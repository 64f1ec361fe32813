"""The AWS handler of each action kind (the registry), and ``AwsSteps``, which runs one pass of an action.

Every handler is re-entrant: each pass re-reads AWS or repeats an idempotent call (CopyImage with its
ClientToken, named CreateGrant, launch and snapshot permission changes, key policy edits applied to
the policy as it is now), so a pass after an interruption finds done what was done.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from amishare.aws.errors import IMAGE_GONE
from amishare.aws.reads.convert import launch_template_ref, tags_of
from amishare.aws.session import STEP, Sessions, as_step
from amishare.aws.steps.key_edits import KeyEdit, edit_key_access
from amishare.aws.steps.poller import ImagePoller, Poll
from amishare.aws.steps.revoker import Revoker, revoke_grant, snapshot_permission_calls
from amishare.engine.action import Action, client_token
from amishare.engine.kinds.cleanup import DeregisterImage, DisableImage
from amishare.engine.kinds.copies import AwaitImage, CopyImage, DeleteStaging, StageImage
from amishare.engine.kinds.distribution import (
    DeprecateImage,
    ProtectImage,
    PublishParameter,
    TagImage,
    UpdateLaunchTemplate,
)
from amishare.engine.kinds.gates import (
    CreateGrant,
    LaunchPermissionChange,
    PutKeyPolicy,
    RevokeDestination,
    RevokeGrant,
    ShareImage,
    ShareSnapshots,
    SnapshotChange,
    UnshareSnapshots,
)
from amishare.engine.locks import KeyLocks, LocalKeyLocks
from amishare.engine.plan import Plan
from amishare.engine.steps import Done, Failed, InProgress, StepContext, StepResult, Timers
from amishare.errors import AwsError
from amishare.model import TAG_RUN, TAG_SOURCE_IMAGE, TAG_STAGING, RoleRef

COPY_LIMIT_RETRY_FIRST = 1.0  # seconds before asking again when the concurrent copy limit is reached
COPY_LIMIT_RETRY_MAX = 60.0
NAME_FREED_RETRY = 0.2  # seconds before copying again once an image name was freed
KEY_REFUSED = "is not accessible"  # EC2's StateReason of a copy whose key it could not use ("Given key ID ...")
REDO_AFTER_KEY_REFUSED = 5.0  # seconds before copying again after a refusal for key access (doubled each time)
WARM_THREADS = 8  # roles assumed at once in the background
MAX_ACCOUNTS_PER_IMAGE_CALL = 10_000  # docs/aws-facts.md section 4

A = TypeVar("A", bound=Action)
Handler = Callable[["AwsSteps", Any, StepContext], StepResult]
HANDLERS: dict[type[Action], Handler] = {}


def handles(*kinds: type[Action]) -> Callable[[Callable[[AwsSteps, A, StepContext], StepResult]], Handler]:
    """Register a function as the AWS handler of ``kinds``."""

    def register(func: Callable[[AwsSteps, A, StepContext], StepResult]) -> Handler:
        for kind in kinds:
            if kind in HANDLERS:
                raise TypeError(f"{kind.__name__} has two handlers")
            HANDLERS[kind] = func
        return func

    return register


def handler_for(action: Action) -> Handler:
    for cls in type(action).__mro__:
        if cls in HANDLERS:
            return HANDLERS[cls]
    raise TypeError(f"no AWS handler for {type(action).__name__}")


class AwsSteps:
    """Runs passes of actions against AWS, as the account each action names (assuming its role)."""

    def __init__(
        self,
        sessions: Sessions,
        *,
        wait_timeout: float = 24 * 3600,
        poll_min: float = 0.2,
        poll_max: float = 30.0,
        revoke_window: float = 1.0,
        on_poll: Poll | None = None,
        snapshot_progress: bool = False,
        key_locks: KeyLocks | None = None,  # one key policy writer at a time (default: this process's)
    ) -> None:
        self.sessions = sessions
        self.wait_timeout = wait_timeout
        self.key_locks: KeyLocks = key_locks or LocalKeyLocks()
        self.poller = ImagePoller(
            sessions, poll_min=poll_min, poll_max=poll_max, on_poll=on_poll, snapshot_progress=snapshot_progress
        )
        self.revoker = Revoker(sessions, window=revoke_window, key_locks=self.key_locks)
        self.timers: Timers | None = None
        self._warmed: set[tuple[RoleRef, str]] = set()

    # ------------------------------------------------------------------ Steps protocol
    def begin(self, plan: Plan, timers: Timers, finished: frozenset[str]) -> None:
        self.timers = timers
        self.poller.bind(timers)
        self.revoker.bind(timers, plan, set(finished))
        pending = [a for a in plan.actions if a.key not in finished]
        timers.call_later(0.0, lambda: self.warm(pending))  # queued behind the first steps (the staging copies)

    def step(self, action: Action, context: StepContext) -> StepResult:
        token = STEP.set(action.kind.value)
        try:
            return handler_for(action)(self, action, context)
        finally:
            STEP.reset(token)

    def cancel(self) -> None:
        self.poller.cancel()

    # -------------------------------------------------------------------------- helpers
    def who(self, action: Action) -> str | None:
        """None for the caller's own credentials, else the account (its role assumed on first use)."""
        if action.account == self.sessions.caller_account():
            return None
        if action.role:
            self.sessions.assume(action.role)
        return action.account

    def ec2(self, action: Action) -> Any:
        return self.sessions.client("ec2", action.region, self.who(action))

    def kms(self, action: Action) -> Any:
        return self.sessions.client("kms", action.region, self.who(action))

    def ssm(self, action: Action) -> Any:
        return self.sessions.client("ssm", action.region, self.who(action))

    def now(self) -> float:
        assert self.timers is not None
        return self.timers.now()

    def warm(self, actions: Iterable[Action]) -> None:
        """In the background, assume each role the ``actions`` act through and build its EC2 client for their
        region, while the run's first steps go on (a client costs ~20 ms of CPU; a fleet needs one per account
        and region). A failure here is left for the action to report."""
        needs = {(a.role, a.region): a.kind.value for a in actions if a.role and (a.role, a.region) not in self._warmed}
        self._warmed.update(needs)
        if not needs:
            return

        def warm_one(role: RoleRef, region: str) -> None:
            if role.account != self.sessions.caller_account():
                self.sessions.assume(role)
                self.sessions.client("ec2", region, role.account)

        def warm(need: tuple[RoleRef, str], kind: str) -> None:
            role, region = need
            with contextlib.suppress(Exception):
                as_step(kind, warm_one, role, region)

        # AssumeRole waits on the network: a few threads at once (one alone took 6 s for 250 roles)
        pool = ThreadPoolExecutor(max_workers=WARM_THREADS, thread_name_prefix="amishare-warm")
        for need, kind in needs.items():
            pool.submit(warm, need, kind)
        pool.shutdown(wait=False)


# ------------------------------------------------------------------------------- images
@handles(CopyImage)
def copy_image(steps: AwsSteps, action: CopyImage, context: StepContext) -> StepResult:
    """CopyImage with a ClientToken of (run, action): a repeated pass gets the same image back."""
    tags = [{"Key": k, "Value": v} for k, v in sorted({**action.tags, TAG_RUN: context.run_id}.items())]
    # a staging copy is named for its run: two transfers of one image at once stage side by side
    name = f"{action.name}-{context.run_id}" if isinstance(action, StageImage) else action.name
    params: dict[str, Any] = {
        "SourceImageId": action.source_image,
        "SourceRegion": action.source_region,
        "Name": name,
        "Description": action.description,
        # a copy done again at its wait's request (``Failed.redo``) is a new copy: a token of its own
        "ClientToken": client_token(context.run_id, action.key, context.generation),
        "TagSpecifications": [{"ResourceType": "image", "Tags": tags}, {"ResourceType": "snapshot", "Tags": tags}],
    }
    if action.kms_key:
        params.update(Encrypted=True, KmsKeyId=action.kms_key)
    if action.completion_minutes:
        params["SnapshotCopyCompletionDurationMinutes"] = action.completion_minutes
    started = time.time()
    try:
        response = steps.ec2(action).copy_image(**params)
    except AwsError as exc:
        if exc.code == "InvalidAMIName.Duplicate":
            return _name_in_use(steps, action, name, context, started)
        # docs/aws-facts.md section 4: too many copies in flight in that account and region. Not a throttling
        # error botocore retries: ask again later (the ClientToken keeps a late success from making two).
        if exc.code != "ResourceLimitExceeded":
            raise
        since = float(context.state.get("limited_since", steps.now()))
        delay = float(context.state.get("delay", COPY_LIMIT_RETRY_FIRST / 2)) * 2
        if steps.now() + delay > since + steps.wait_timeout:
            raise
        return InProgress(
            min(delay, COPY_LIMIT_RETRY_MAX),
            {"limited_since": since, "delay": delay},
            detail="waiting for the concurrent copy limit",
        )
    done = {"image_id": response["ImageId"], "kms_key": action.kms_key, "started_at": started}
    if context.generation:  # done again: which copies it replaces, and why
        done.update({k: context.state[k] for k in ("replaced", "redo_reason") if k in context.state})
        done["generation"] = context.generation
    return Done(done)


def _name_in_use(steps: AwsSteps, action: CopyImage, name: str, context: StepContext, started: float) -> StepResult:
    """Image names are unique per account and region (docs/aws-facts.md section 3). A destination that already owns
    a copy of this source image (its lineage tag says so: an earlier transfer, or one running now) keeps it:
    it is reused, never copied again. A failed copy this run made is deregistered, so a resumed attempt can
    copy again under its name. Anything else of that name is the user's to rename or remove."""
    ec2 = steps.ec2(action)
    found = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])["Images"]
    where = f"{action.account} in {action.region}"
    if not found:  # deregistered meanwhile: the name is free again
        return InProgress(NAME_FREED_RETRY, dict(context.state), detail=f"the name {name} was just freed")
    image = found[0]
    tags = tags_of(image)
    source = action.tags.get(TAG_SOURCE_IMAGE)
    made_by = tags.get(TAG_RUN, "outside amishare")
    ours = made_by == context.run_id and tags.get(TAG_SOURCE_IMAGE) == source
    state = image.get("State")
    if ours and state == "failed":  # an earlier attempt of this run: it holds the name and nothing else
        ec2.deregister_image(ImageId=image["ImageId"])
        return InProgress(NAME_FREED_RETRY, dict(context.state), detail=f"removed the failed copy {image['ImageId']}")
    reused = Done({"image_id": image["ImageId"], "kms_key": action.kms_key, "started_at": started, "reused": True})
    if isinstance(action, StageImage) or tags.get(TAG_STAGING) == "true":
        if ours and state in ("pending", "available"):  # this run's own staging copy, from an earlier attempt
            return reused
        return Failed(
            f"{image['ImageId']} ({name}) already exists in {where}: the staging copy of run {made_by}. "
            "Another transfer of this image is under way (or was interrupted): let it finish, or resume it"
        )
    if source is None or tags.get(TAG_SOURCE_IMAGE) != source:
        return Failed(
            f"an image named {name} already exists in {where} ({image['ImageId']}) and is not a copy of "
            f"{source or action.source_image}: rename or deregister it, then resume"
        )
    if state not in ("pending", "available"):
        return Failed(
            f"{image['ImageId']}, the copy of {source} {where} made by run {made_by}, is {state}: "
            "deregister it, then resume"
        )
    return Done({**reused.output, "made_by": made_by})


@handles(AwaitImage)
def await_image(steps: AwsSteps, action: AwaitImage, context: StepContext) -> StepResult:
    """Watched by the poller (one DescribeImages per account and region per tick); woken when it settles."""
    expected = float(action.expected) if isinstance(action.expected, float | int) else 0.0
    if expected and isinstance(action.started, float | int):  # the copy has been running since then
        expected = max(0.0, expected - (time.time() - float(action.started)))
    timeout = action.timeout or steps.wait_timeout
    who = steps.who(action)
    watch = steps.poller.watch(action.key, who, action.region, action.image, timeout, float(expected))
    if watch.error is not None:
        steps.poller.forget(action.key, who, action.region)
        return Failed(watch.error, **_redo_copy(action, watch.error))
    image = watch.image or {}
    if image.get("State") == "available":
        steps.poller.forget(action.key, who, action.region)
        return Done({"image_id": action.image, "state": "available", "seconds": steps.now() - watch.registered})
    progress = str(image.get("Progress", ""))
    return InProgress(None, {"image_id": action.image, "progress": progress}, detail=progress)


def _redo_copy(action: AwaitImage, error: str) -> dict[str, Any]:
    """A copy refused for key access soon after it started, when its key access is a grant made for it: copy again
    (``Failed.redo``). A new grant is eventually consistent (docs/aws-facts.md section 9: refused for seconds to
    minutes without its grant token, which CopyImage cannot pass); a grant that never works fails after the
    executor's last redo."""
    if not (action.made_by and action.key_access_window and KEY_REFUSED in error):
        return {}
    started = float(action.started) if isinstance(action.started, float | int) else 0.0
    if started and time.time() - started > action.key_access_window:
        return {}
    return {"redo": action.made_by, "redo_after": REDO_AFTER_KEY_REFUSED}


def _current(steps: AwsSteps, action: Action, image_id: str) -> dict[str, Any] | None:
    """The image as its owner sees it now, None when it is gone (docs/aws-facts.md section 3: never [0] blindly)."""
    try:
        found = steps.ec2(action).describe_images(ImageIds=[image_id], IncludeDisabled=True)["Images"]
    except AwsError as exc:
        if exc.code in IMAGE_GONE:
            return None
        raise
    if not found or found[0].get("State") == "deregistered":
        return None
    return dict(found[0])


def _deregister(steps: AwsSteps, action: Action, image_id: str) -> dict[str, Any] | None:
    """DeregisterImage with its snapshots; None when someone else deregistered it since ``_current`` read it:
    ``InvalidAMIID.Unavailable`` while it is described as deregistered, NotFound after (docs/aws-facts.md section 3)."""
    try:
        return dict(steps.ec2(action).deregister_image(ImageId=image_id, DeleteAssociatedSnapshots=True))
    except AwsError as exc:
        if exc.code in IMAGE_GONE:
            return None
        raise


@handles(DeleteStaging)
def delete_staging(steps: AwsSteps, action: DeleteStaging, context: StepContext) -> StepResult:
    """Deregister a staging image and its snapshots, only when its tags prove this run made it."""
    image = _current(steps, action, action.image)
    if image is None:
        return Done({"image_id": action.image, "deleted": False, "reason": "already gone"})
    tags = tags_of(image)
    if tags.get(TAG_RUN) != context.run_id or tags.get(TAG_STAGING) != "true":
        return Failed(
            f"refusing to delete {action.image}: its tags do not prove that run {context.run_id} made it "
            f"({TAG_RUN}={tags.get(TAG_RUN)}, {TAG_STAGING}={tags.get(TAG_STAGING)})"
        )
    result = _deregister(steps, action, action.image)
    if result is None:
        return Done({"image_id": action.image, "deleted": False, "reason": "already gone"})
    return Done(
        {
            "image_id": action.image,
            "deleted": True,
            "snapshots": [r["SnapshotId"] for r in result.get("DeleteSnapshotResults", [])],
        }
    )


# --------------------------------------------------------------------------- permissions
@handles(LaunchPermissionChange)
def modify_launch_permission(steps: AwsSteps, action: LaunchPermissionChange, context: StepContext) -> StepResult:
    verb = "Add" if isinstance(action, ShareImage) else "Remove"
    others = (
        [{"OrganizationArn": a} for a in action.organizations]
        + [{"OrganizationalUnitArn": a} for a in action.ous]
        + ([{"Group": "all"}] if action.public else [])
    )
    calls = 0
    accounts = list(action.accounts)
    for start in range(0, max(1, len(accounts)), MAX_ACCOUNTS_PER_IMAGE_CALL):
        entries = [{"UserId": a} for a in accounts[start : start + MAX_ACCOUNTS_PER_IMAGE_CALL]]
        entries += others if calls == 0 else []
        if not entries:
            continue
        try:
            steps.ec2(action).modify_image_attribute(ImageId=action.image, LaunchPermission={verb: entries})
        except AwsError as exc:
            # an image deregistered since the plan (docs/aws-facts.md section 3): nobody can launch it any more
            if verb == "Add" or exc.code not in IMAGE_GONE:
                raise
            return Done({"image_id": action.image, "calls": calls, "reason": "already gone"})
        calls += 1
    return Done({"image_id": action.image, "calls": calls})


@handles(ShareSnapshots)
def share_snapshots(steps: AwsSteps, action: ShareSnapshots, context: StepContext) -> StepResult:
    changes = action.changes
    if changes is None:  # the snapshots of an image made by this run
        found = steps.ec2(action).describe_images(ImageIds=[action.image])["Images"]
        if not found or found[0].get("State") == "deregistered":  # docs/aws-facts.md section 3: never [0] blindly
            return Failed(f"image {action.image} was deregistered before its snapshots could be shared")
        image = found[0]
        changes = tuple(
            SnapshotChange(m["Ebs"]["SnapshotId"], action.accounts)
            for m in image.get("BlockDeviceMappings", [])
            if m.get("Ebs", {}).get("SnapshotId")
        )
    return Done(_modify_snapshots(steps, action, changes, "add"))


@handles(UnshareSnapshots)
def unshare_snapshots(steps: AwsSteps, action: UnshareSnapshots, context: StepContext) -> StepResult:
    return Done(_modify_snapshots(steps, action, action.changes, "remove"))


def _modify_snapshots(
    steps: AwsSteps, action: Action, changes: tuple[SnapshotChange, ...], operation: str
) -> dict[str, Any]:
    calls = snapshot_permission_calls(steps.ec2(action), changes, operation)
    for call in calls:
        call()
    return {"snapshots": [c.snapshot for c in changes], "calls": len(calls)}


# ---------------------------------------------------------------------------------- keys
@handles(PutKeyPolicy)
def put_key_policy(steps: AwsSteps, action: PutKeyPolicy, context: StepContext) -> StepResult:
    """The planned edit, applied to the policy as it is now (a policy that already says it is done)."""
    return Done(
        edit_key_access(
            steps.sessions,
            steps.who(action),
            KeyEdit(action.key_arn, action.region, add=action.add, remove=action.remove),
            locks=steps.key_locks,
        )
    )


@handles(CreateGrant)
def create_grant(steps: AwsSteps, action: CreateGrant, context: StepContext) -> StepResult:
    """Named: KMS answers a repeated CreateGrant with the same grant (AWS KMS CreateGrant, ``Name``)."""
    name = f"{action.name}-{context.run_id}" if action.run_scoped else action.name
    response = steps.kms(action).create_grant(
        KeyId=action.key_arn, GranteePrincipal=action.grantee, Operations=list(action.operations), Name=name
    )
    return Done({"grant_id": response["GrantId"], "name": name})


@handles(RevokeGrant)
def revoke_a_grant(steps: AwsSteps, action: RevokeGrant, context: StepContext) -> StepResult:
    if not revoke_grant(steps.kms(action), action.key_arn, action.grant_id):
        return Done({"grant_id": action.grant_id, "revoked": False, "reason": "already gone"})
    return Done({"grant_id": action.grant_id})


# ------------------------------------------------------------------------- revocation
@handles(RevokeDestination)
def revoke_destination(steps: AwsSteps, action: RevokeDestination, context: StepContext) -> StepResult:
    """Joins the batch of its image (first pass); done when the batch's calls are."""
    if not context.state.get("requested"):
        steps.revoker.request(action, steps.who(action), context.run_id)
        return InProgress(None, {"requested": True})
    settled, error, key_left = steps.revoker.outcome(action.key)
    if not settled:
        return InProgress(None, {"requested": True})
    if error is not None:
        return Failed(error)
    return Done({"image_id": action.image, "revoked": action.target, **({"key_access": key_left} if key_left else {})})


# -------------------------------------------------------------------------- distribution
PARAMETER_CHECK_SECONDS = 60.0  # how long AWS's check of an aws:ec2:image parameter may take before it is failed
PARAMETER_RECHECK = 1.0


@handles(PublishParameter)
def publish_parameter(steps: AwsSteps, action: PublishParameter, context: StepContext) -> StepResult:
    """PutParameter (aws:ec2:image), then GetParameter until it names the image: AWS checks the image after the
    call, and a version naming an image the account cannot use is never created."""
    ssm = steps.ssm(action)
    state = dict(context.state)
    if "put_at" not in state:
        ssm.put_parameter(
            Name=action.parameter, Value=action.image, Type="String", DataType="aws:ec2:image", Overwrite=True
        )
        state["put_at"] = steps.now()
    try:
        value = ssm.get_parameter(Name=action.parameter)["Parameter"]["Value"]
    except AwsError as exc:
        if exc.code != "ParameterNotFound":
            raise
        value = None
    if value == action.image:
        return Done({"parameter": action.parameter, "image_id": action.image})
    if steps.now() - float(state["put_at"]) > PARAMETER_CHECK_SECONDS:
        return Failed(
            f"SSM parameter {action.parameter} in {action.account} {action.region} was not set to {action.image} "
            f"(it reads {value or 'nothing'}): AWS refused the image for that account"
        )
    return InProgress(PARAMETER_RECHECK, state, detail=f"AWS is checking {action.image}")


@handles(UpdateLaunchTemplate)
def update_launch_template(steps: AwsSteps, action: UpdateLaunchTemplate, context: StepContext) -> StepResult:
    """A version from $Latest with the image (a latest version that names it already is this step, done)."""
    ec2 = steps.ec2(action)
    which = launch_template_ref(action.template)
    (latest,) = ec2.describe_launch_template_versions(**which, Versions=["$Latest"])["LaunchTemplateVersions"]
    version = latest
    if latest["LaunchTemplateData"].get("ImageId") != action.image:
        version = ec2.create_launch_template_version(
            **which,
            SourceVersion=str(latest["VersionNumber"]),
            VersionDescription=f"amishare: {action.image} (run {context.run_id})",
            LaunchTemplateData={"ImageId": action.image},
        )["LaunchTemplateVersion"]
    if action.set_default and not version.get("DefaultVersion"):
        ec2.modify_launch_template(**which, DefaultVersion=str(version["VersionNumber"]))
    return Done(
        {"template": version["LaunchTemplateId"], "version": version["VersionNumber"], "image_id": action.image}
    )


@handles(DeprecateImage)
def deprecate_image(steps: AwsSteps, action: DeprecateImage, context: StepContext) -> StepResult:
    image = _current(steps, action, action.image)
    if image is None:
        return Failed(f"image {action.image} is gone: nothing left to deprecate")
    if image.get("DeprecationTime"):
        return Done({"image_id": action.image, "deprecate_at": image["DeprecationTime"]})
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=action.after_seconds)
    steps.ec2(action).enable_image_deprecation(ImageId=action.image, DeprecateAt=when)
    return Done({"image_id": action.image, "deprecate_at": when.isoformat()})


@handles(TagImage)
def tag_image(steps: AwsSteps, action: TagImage, context: StepContext) -> StepResult:
    tags = [{"Key": k, "Value": v} for k, v in sorted(action.tags.items())]
    steps.ec2(action).create_tags(Resources=[action.image], Tags=tags)
    return Done({"image_id": action.image, "tags": dict(action.tags)})


@handles(ProtectImage)
def protect_image(steps: AwsSteps, action: ProtectImage, context: StepContext) -> StepResult:
    steps.ec2(action).enable_image_deregistration_protection(ImageId=action.image, WithCooldown=True)
    return Done({"image_id": action.image})


@handles(DisableImage)
def disable_image(steps: AwsSteps, action: DisableImage, context: StepContext) -> StepResult:
    image = _current(steps, action, action.image)
    if image is None:
        return Done({"image_id": action.image, "disabled": False, "reason": "already gone"})
    if image.get("State") != "disabled":
        steps.ec2(action).disable_image(ImageId=action.image)
    return Done({"image_id": action.image, "disabled": True})


@handles(DeregisterImage)
def deregister_image(steps: AwsSteps, action: DeregisterImage, context: StepContext) -> StepResult:
    image = _current(steps, action, action.image)
    if image is None:
        return Done({"image_id": action.image, "deregistered": False, "reason": "already gone"})
    protection = str(image.get("DeregistrationProtection", "disabled"))
    if protection != "disabled":
        return Failed(
            f"{action.image} is protected from deregistration ({protection}) since the plan was made: left alone"
        )
    result = _deregister(steps, action, action.image)
    if result is None:
        return Done({"image_id": action.image, "deregistered": False, "reason": "already gone"})
    rows = result.get("DeleteSnapshotResults", [])
    return Done(
        {
            "image_id": action.image,
            "deregistered": True,
            "snapshots_deleted": [r["SnapshotId"] for r in rows if r.get("ReturnCode") == "success"],
            "snapshots_kept": [r["SnapshotId"] for r in rows if r.get("ReturnCode") != "success"],
        }
    )
