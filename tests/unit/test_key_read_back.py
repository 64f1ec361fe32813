"""How long after a key policy edit amishare reads it back (aws/steps/key_edits.py): four times as long as its own
read-modify-write took (another writer's, against the same KMS endpoint, takes about as long), within bounds."""

from __future__ import annotations

import pytest

from amishare.aws.steps.key_edits import KEY_VERIFY_AFTER, left_open, read_back_after


@pytest.mark.parametrize(
    ("edit_seconds", "after"),
    [
        (0.004, KEY_VERIFY_AFTER[0]),  # a local AWS: the floor
        (0.1, KEY_VERIFY_AFTER[0]),  # AWS, in region
        (0.2, 0.8),
        (0.3, 1.2),  # AWS, from afar
        (5.0, KEY_VERIFY_AFTER[1]),  # a throttled or stalled edit: the ceiling
    ],
)
def test_the_read_back_waits_four_times_the_edit_within_bounds(edit_seconds: float, after: float) -> None:
    assert read_back_after(edit_seconds) == pytest.approx(after)


@pytest.mark.parametrize(
    ("edited", "left"),
    [
        ({"key": "k", "changed": True}, {}),
        ({"key": "k", "changed": True, "left": "111111111111"}, {"111111111111": "left"}),
        (
            {"key": "k", "changed": True, "left": "111111111111, 222222222222", "left_to_outside": "333333333333"},
            {"111111111111": "left", "222222222222": "left", "333333333333": "left_to_outside"},
        ),
    ],
)
def test_a_revocation_reads_which_accounts_its_key_edit_left_open_and_why(
    edited: dict[str, object], left: dict[str, str]
) -> None:
    assert left_open(edited) == left


@pytest.mark.parametrize(
    ("recorded", "accounts"),
    [
        (None, set()),
        ("", set()),
        ("3f2a9c", set()),
        ("[1]", set()),
        ('{"accounts": ["111111111111"]}', {"111111111111"}),
    ],
)
def test_a_key_lock_s_record_reads_as_a_ledger_or_as_none(recorded: str | None, accounts: set[str]) -> None:
    """The ledger a key lock keeps (aws/steps/key_edits.py): a record that is not one (an older amishare's, a file
    edited by hand) counts as none, and the next edit records one, rather than failing every edit of the key."""
    from amishare.aws.steps.key_edits import _ledger
    from amishare.engine.locks import KeyHold

    assert _ledger(KeyHold(recorded)).accounts == accounts
