"""Every exit code the README's table documents, provoked for real through the command line (issue 19: "exit codes
match the README's table in every case, a test runs each documented code"). Each case runs amishare against the
local AWS as a user would (in-process with click's runner; a pseudo-terminal for the prompt, a process of its own
for the local AWS that cannot start), and checks the code and that the message names the value at fault and the fix.
The table is read from README.md: a code documented without a case here, or a case for an undocumented code, fails.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from amishare import errors
from amishare.cli.main import cli
from amishare.engine.lease import Leases
from amishare.sandbox import Sandbox
from tests.support.manifests import build_manifest, distribute, family
from tests.support.terminal import at_the_prompt
from tests.support.world import OTHER, OWNER, REGION, TARGET, mutating_calls, share_by_hand

README = Path(__file__).resolve().parents[2] / "README.md"
STRANGER = "444444444444"  # an account amishare has no role in
MISSING = "ami-0123456789abcdef0"


def documented_codes() -> dict[int, str]:
    """The README's exit-code table: code -> meaning."""
    section = README.read_text(encoding="utf-8").split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return {int(code): meaning for code, meaning in re.findall(r"^\| (\d+) \| (.+) \|$", section, re.M)}


@dataclass
class World:
    """The sandbox, a folder of the user's own, and amishare's environment acting as OWNER there."""

    sb: Sandbox
    folder: Path

    @property
    def journal(self) -> Path:
        return self.folder / "journal.sqlite3"

    def env(self, account: str = OWNER) -> dict[str, str]:
        return {**self.sb.credentials(account), "AWS_REGION": REGION, "AMISHARE_JOURNAL": str(self.journal)}

    def run(self, *args: str, account: str = OWNER) -> tuple[int, str]:
        """``amishare ARGS`` in-process: its exit code and what it said (stdout and stderr)."""
        self.sb.clear_calls()  # what the case set up by hand is not amishare's doing
        result = CliRunner().invoke(cli, list(args), env=self.env(account))
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result.exit_code, result.output

    def image(self, name: str = "plain", kms_key: str | None = None) -> str:
        return self.sb.seed_image(OWNER, REGION, name, volumes_gib=[8], kms_key=kms_key)

    def config(self, text: str) -> str:
        path = self.folder / "amishare.toml"
        path.write_text(text)
        return str(path)


def _success(w: World) -> tuple[int, str]:
    image = w.image()
    return w.run("share", image, "--to", TARGET, "--dry-run")


def _declined(w: World) -> tuple[int, str]:
    image = w.image()
    w.sb.clear_calls()
    session = at_the_prompt(["share", image, "--to", TARGET], w.env(), w.folder, answer="n")
    assert "Apply these changes? [y/N]" in session.screen
    return session.exit_code, session.screen


def _bad_input(w: World) -> tuple[int, str]:
    return w.run("share", "ami-123", "--to", TARGET)


def _config_error(w: World) -> tuple[int, str]:
    return w.run("show", w.image(), "--config", w.config("[defaults]\nshare_kye = 'alias/x'\n"))


def _aws_refused(w: World) -> tuple[int, str]:
    """A consumer leaving a share that reaches it through its organization: AWS refuses, only the owner can."""
    organization, _ = w.sb.create_organization(OWNER, {"dev": [TARGET]})
    image = w.image()
    w.sb.session(OWNER, REGION).client("ec2").modify_image_attribute(
        ImageId=image, LaunchPermission={"Add": [{"OrganizationArn": organization}]}
    )
    return w.run("leave-share", image, "--yes", account=TARGET)


def _access_denied(w: World) -> tuple[int, str]:
    theirs = w.sb.seed_image(OTHER, REGION, "theirs", kms_key=None)
    share_by_hand(w.sb.session(OTHER, REGION).client("ec2"), theirs, OWNER)
    return w.run("share", theirs, "--to", TARGET)


def _not_found(w: World) -> tuple[int, str]:
    return w.run("show", MISSING)


def _partial(w: World) -> tuple[int, str]:
    """A share whose image is deregistered by someone else between its snapshots' share and its own: the first
    action succeeded, the second failed."""
    image = w.image()
    ec2 = w.sb.session(OWNER, REGION).client("ec2")
    w.sb.after("ec2:ModifySnapshotAttribute", lambda: ec2.deregister_image(ImageId=image))
    return w.run("share", image, "--to", TARGET, "--yes")


def _sandbox_cannot_start(w: World) -> tuple[int, str]:
    port = w.sb.endpoint_url.rsplit(":", 1)[1]  # the sandbox of this test listens there already
    served = subprocess.run(
        [sys.executable, "-m", "amishare", "sandbox", "serve", "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return served.returncode, served.stdout + served.stderr


def _refused_for_safety(w: World) -> tuple[int, str]:
    return w.run("share", w.image("golden", kms_key="aws/ebs"), "--to", TARGET)


def _journal(w: World) -> tuple[int, str]:
    return w.run("runs", "show", "20260101T000000Z-abcdef")


def _run_busy(w: World) -> tuple[int, str]:
    """A partly failed run whose lease another live process holds (pid 1 lives on every Linux host)."""
    code, said = _partial(w)
    assert code == 7, said
    run_id = re.findall(r"amishare runs show ([\w-]+)", said)[0]
    holder = Leases(w.journal)
    holder.pid = 1
    holder.acquire(run_id)
    return w.run("resume", run_id)


def _verify(w: World) -> tuple[int, str]:
    return w.run("verify", w.image())


def _doctor(w: World) -> tuple[int, str]:
    return w.run("doctor", w.image(), "--account", TARGET, "--need", "launch")


def _audit_findings(w: World) -> tuple[int, str]:
    image = w.image()
    share_by_hand(w.sb.session(OWNER, REGION).client("ec2"), image, STRANGER)
    return w.run("audit", "--fail-on", "high")


MANIFEST = build_manifest(
    family("base", {"ssm_parameter": "/golden/base"}, distribute([TARGET])), source=OWNER, regions=[REGION]
)


def _manifest(w: World) -> str:
    image = w.image("base-1")
    w.sb.session(OWNER, REGION).client("ssm").put_parameter(
        Name="/golden/base", Value=image, Type="String", DataType="aws:ec2:image"
    )
    path = w.folder / "estate.toml"
    path.write_text(MANIFEST)
    return str(path)


def _drift(w: World) -> tuple[int, str]:
    return w.run("drift", "-f", _manifest(w))


def _plan_pending(w: World) -> tuple[int, str]:
    return w.run("plan", "-f", _manifest(w), "--detailed-exitcode")


def _audit_unread(w: World) -> tuple[int, str]:
    config = w.config(f'[accounts.outsider]\nid = "{STRANGER}"\nrole = "AuditRole"\n')
    return w.run("audit", "--config", config, "--accounts", "outsider")


def _interrupted(w: World) -> tuple[int, str]:
    image = w.image()
    w.sb.clear_calls()
    session = at_the_prompt(["share", image, "--to", TARGET], w.env(), w.folder, answer=None)
    assert "Apply these changes? [y/N]" in session.screen
    return session.exit_code, session.screen


@dataclass(frozen=True)
class Case:
    """How to provoke one exit code, and what its message must say: the value at fault and the fix."""

    run: Callable[[World], tuple[int, str]]
    says: tuple[str, ...]
    mutates: bool = False  # whether it makes a mutating call (a run that applies, a change AWS refuses)
    slow: bool = False


CASES: dict[int, Case] = {
    0: Case(_success, ("ShareImage", TARGET, "Dry run: nothing was changed", "without --dry-run")),
    1: Case(_declined, ("Not applied",), slow=True),
    2: Case(_bad_input, ("'ami-123' is not an AMI id", "write it as ami- followed by 8 or 17 hex digits")),
    3: Case(_config_error, ("share_kye", "did you mean 'share_key'")),
    4: Case(
        _aws_refused,
        ("through its organization", f"only its owner {OWNER} can remove that", "amishare revoke"),
        mutates=True,
        slow=True,
    ),
    5: Case(_access_denied, (f"owned by account {OTHER}", "run amishare with that account's credentials"), slow=True),
    6: Case(_not_found, (f"{MISSING} not found in {REGION}", "check the id and --region")),
    7: Case(_partial, ("partial", "ShareImage", "amishare runs show"), mutates=True, slow=True),
    8: Case(_sandbox_cannot_start, ("cannot listen on 127.0.0.1:", "choose another --port"), slow=True),
    9: Case(_refused_for_safety, ("aws/ebs", "aws kms create-alias", "--reencrypt-key")),
    10: Case(_journal, ("no run '20260101T000000Z-abcdef'", "`amishare runs` lists them")),
    11: Case(_run_busy, ("is being applied by", "pid 1", "amishare runs show"), mutates=True, slow=True),
    12: Case(_verify, ("UNENCRYPTED", "aws ec2 copy-image")),
    13: Case(_doctor, ("launch", TARGET, "amishare share")),
    14: Case(_audit_findings, ("OUTSIDE_ALLOWLIST", STRANGER, "amishare revoke"), slow=True),
    15: Case(_drift, ("missing-share", TARGET, "amishare apply"), slow=True),
    16: Case(_plan_pending, ("ShareImage", TARGET, "amishare apply")),
    17: Case(_audit_unread, (STRANGER, "could not be read", "give amishare a role it can assume there")),
    130: Case(_interrupted, ("Interrupted",), slow=True),
}


def test_every_documented_exit_code_has_a_case_and_every_case_is_documented() -> None:
    assert sorted(CASES) == sorted(documented_codes())


def test_every_exit_code_amishare_raises_is_documented() -> None:
    raised = {c.exit_code for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.AmiShareError)}
    constants = {v for k, v in vars(errors).items() if k.startswith("EXIT_") and isinstance(v, int)}
    assert raised | constants <= set(documented_codes())


@pytest.mark.parametrize(
    "code", [pytest.param(c, id=f"exit-{c}", marks=pytest.mark.slow if CASES[c].slow else ()) for c in CASES]
)
def test_each_documented_exit_code_happens_as_documented(sb: Sandbox, tmp_path: Path, code: int) -> None:
    case = CASES[code]
    world = World(sb, tmp_path)
    got, said = case.run(world)
    assert got == code, f"expected exit {code} ({documented_codes()[code]}), got {got}:\n{said}"
    flat = " ".join(said.split())  # a terminal's wrapping undone
    missing = [s for s in case.says if s not in flat]
    assert not missing, f"exit {code}: the message does not say {missing}:\n{said}"
    assert "Traceback" not in said
    if not case.mutates:
        assert mutating_calls(sb) == [], code
