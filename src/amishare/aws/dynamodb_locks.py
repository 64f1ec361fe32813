"""Leases and key locks in the journal's DynamoDB table (aws/dynamodb_journal.py): one live driver per run,
with a fencing token, and one key policy writer at a time across machines. Conditional writes are atomic in
DynamoDB (Developer Guide, "Condition expressions"): what both rely on."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from amishare.engine.lease import (
    HEARTBEAT_EVERY,
    PHASE_MARK,
    STALE_AFTER,
    Holder,
    alive,
    current_user,
    rivals,
    run_of_lease,
)
from amishare.engine.locks import KeyHold
from amishare.errors import AwsError, JournalError, RunBusy

FENCE_KEY = {"pk": {"S": "fence"}, "sk": {"S": "counter"}}  # the one counter every lease's token is drawn from


class DynamoLeases:
    """Leases in the journal's table: one live holder per name, a fencing token per holder, a heartbeat.

    A run's leases share one partition (``pk = lease#<run>``: the run's own lease at ``sk = lease``, a phase's at
    ``sk = lease@<phase>``), so taking one reads its rivals (engine/lease.py ``rivals``) in one query. Tokens are
    drawn from one counter for the whole table: a later holder of any lease has a higher token than every earlier
    one, so a record a run's phase wrote is never overwritten by a holder that came before it."""

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        heartbeat_every: float = HEARTBEAT_EVERY,
        stale_after: float = STALE_AFTER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client, self.table = client, table
        self.heartbeat_every, self.stale_after, self.clock = heartbeat_every, stale_after, clock
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.owner = f"{current_user()}@{self.host}"
        self._held: dict[str, int] = {}  # name -> the token this process holds
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beating: threading.Thread | None = None

    def _key(self, name: str) -> dict[str, Any]:
        run, _, phase = name.partition(PHASE_MARK)
        return {"pk": {"S": f"lease#{run}"}, "sk": {"S": f"lease{PHASE_MARK}{phase}" if phase else "lease"}}

    def _name(self, item: dict[str, Any]) -> str:
        run = item["pk"]["S"].removeprefix("lease#")
        phase = item["sk"]["S"].removeprefix("lease").removeprefix(PHASE_MARK)
        return f"{run}{PHASE_MARK}{phase}" if phase else run

    def _live(self, item: dict[str, Any]) -> Holder | None:
        """The live holder an item records (None: released or stale)."""
        if item.get("released", {}).get("BOOL"):
            return None
        holder = Holder(item["owner"]["S"], item["host"]["S"], int(item["pid"]["N"]), float(item["heartbeat"]["N"]))
        return None if self._stale(holder) else holder

    def _next_token(self) -> int:
        answer = self.client.update_item(
            TableName=self.table,
            Key=FENCE_KEY,
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(answer["Attributes"]["n"]["N"])

    def _rival(self, name: str) -> tuple[str, Holder] | None:
        """A live holder, in another process, of a lease that keeps ``name`` from being held (read consistently)."""
        found = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": self._key(name)["pk"]},
            ConsistentRead=True,
        )
        for item in found.get("Items", []):
            other = self._name(item)
            holder = self._live(item)
            if other != name and holder is not None and rivals(name, other) and not self._is_me(holder):
                return other, holder
        return None

    def _is_me(self, holder: Holder) -> bool:
        return (holder.host, holder.pid) == (self.host, self.pid)

    def _item(self, name: str) -> dict[str, Any] | None:
        found = self.client.get_item(TableName=self.table, Key=self._key(name), ConsistentRead=True)
        item: dict[str, Any] | None = found.get("Item")
        return item

    def holder(self, name: str) -> Holder | None:
        """Who holds ``name`` now (None: nobody live)."""
        item = self._item(name)
        return None if item is None else self._live(item)

    def _stale(self, holder: Holder) -> bool:
        if holder.host == self.host and not alive(holder.pid):
            return True
        return self.clock() - holder.heartbeat > self.stale_after

    def acquire(self, name: str) -> None:
        """Take ``name`` (a new token), or raise ``RunBusy`` naming its live holder, or a rival's (a phase's lease
        and its run's exclude each other: taken first, then the rivals read; one that is live gives it back)."""
        item = self._item(name)
        seen = int(item["token"]["N"]) if item else 0
        holder = self._live(item) if item is not None else None
        if holder is not None and not self._is_me(holder):
            raise RunBusy(f"{name} is being run by {holder.owner} (pid {holder.pid}, host {holder.host})")
        token = max(self._next_token(), seen + 1)
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    **self._key(name),
                    "owner": {"S": self.owner},
                    "host": {"S": self.host},
                    "pid": {"N": str(self.pid)},
                    "heartbeat": {"N": repr(self.clock())},
                    "token": {"N": str(token)},
                    "released": {"BOOL": False},
                },
                ConditionExpression="attribute_not_exists(pk) OR #t = :seen",
                ExpressionAttributeNames={"#t": "token"},
                ExpressionAttributeValues={":seen": {"N": str(seen)}},
            )
        except AwsError as exc:
            if exc.code == "ConditionalCheckFailedException":
                raise RunBusy(f"{name} was taken by another process at the same moment: try again") from exc
            raise JournalError(f"journal table {self.table}: {exc}") from exc
        with self._lock:
            self._held[name] = token
        rival = self._rival(name)
        if rival is not None:
            self.release(name)
            other, busy = rival
            raise RunBusy(
                f"{other} is being run by {busy.owner} (pid {busy.pid}, host {busy.host}): run {run_of_lease(name)} "
                "is driven whole or phase by phase, not both at once"
            )
        self._start_heartbeat()

    def check(self, name: str) -> int:
        """The token this process holds ``name`` with, once read back still its own (``JournalError`` when it was
        taken over, or is not held: its writes must stop)."""
        with self._lock:
            token = self._held.get(name)
        item = self._item(name)
        if token is None or item is None or int(item["token"]["N"]) != token:
            raise JournalError(
                f"journal table {self.table}: this process no longer holds the run's lease {name} (another took it "
                "over): its writes are refused; the run goes on there"
            )
        return token

    def release(self, name: str) -> None:
        """Give ``name`` back (only while this process's token still holds it)."""
        with self._lock:
            token = self._held.pop(name, None)
        if token is None:
            return
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(name),
                UpdateExpression="SET released = :yes",
                ConditionExpression="#t = :mine",
                ExpressionAttributeNames={"#t": "token"},
                ExpressionAttributeValues={":yes": {"BOOL": True}, ":mine": {"N": str(token)}},
            )
        except AwsError as exc:
            if exc.code != "ConditionalCheckFailedException":  # taken over meanwhile: not ours to release
                raise JournalError(f"journal table {self.table}: {exc}") from exc

    def beat(self) -> None:
        """Refresh the heartbeat of every lease held (one lost meanwhile is dropped: its writes will be refused)."""
        with self._lock:
            held = dict(self._held)
        for name, token in held.items():
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key=self._key(name),
                    UpdateExpression="SET heartbeat = :now",
                    ConditionExpression="#t = :mine",
                    ExpressionAttributeNames={"#t": "token"},
                    ExpressionAttributeValues={":now": {"N": repr(self.clock())}, ":mine": {"N": str(token)}},
                )
            except AwsError:
                continue

    def _start_heartbeat(self) -> None:
        if self._beating is not None:
            return

        def loop() -> None:
            while not self._stop.wait(self.heartbeat_every):
                self.beat()

        self._beating = threading.Thread(target=loop, name="amishare-lease", daemon=True)
        self._beating.start()

    def close(self) -> None:
        self._stop.set()


class DynamoKeyLocks:
    """``KeyLocks`` shared by every runner of the journal's table: one key policy writer at a time, whatever
    machine it runs on. The lock is an item (``pk = "keylock#<key ARN>"``) put on condition that nobody holds it
    or its holder's lease on it expired (``ttl`` seconds: a writer that died lets go), or its holder is a process of
    this host that is gone (a killed command run again takes the lock at once, as it takes the run's lease); waits
    back off, and each wait is counted on the item (``waits``), so contention shows in the journal. The item also
    keeps the lock's record (``record``: engine/locks.py, the key's ledger)."""

    def __init__(self, client: Any, table: str, *, ttl: float = 30.0, clock: Callable[[], float] = time.time) -> None:
        self.client, self.table, self.ttl, self.clock = client, table, ttl, clock
        self.host = socket.gethostname()
        self.me = f"{current_user()}@{self.host}:{os.getpid()}"
        self._local = threading.local()

    def _key(self, key_arn: str) -> dict[str, Any]:
        return {"pk": {"S": f"keylock#{key_arn}"}, "sk": {"S": "lock"}}

    @contextlib.contextmanager
    def hold(self, key_arn: str) -> Iterator[KeyHold]:
        """Hold the key's lock for the ``with`` block (waiting, with backoff, while another holds it)."""
        holder = f"{self.me}:{threading.get_ident()}"
        delay = 0.02
        while (item := self._take(key_arn, holder) or self._take_from_the_dead(key_arn, holder)) is None:
            self._count_wait(key_arn)
            time.sleep(delay)
            delay = min(1.0, delay * 2)
        held = KeyHold(item.get("record", {}).get("S"))
        try:
            yield held
        finally:
            self._let_go(key_arn, holder, held.record)

    def _take(self, key_arn: str, holder: str) -> dict[str, Any] | None:
        now = self.clock()
        condition = "attribute_not_exists(holder) OR expires < :now"
        return self._claim(key_arn, holder, condition, {":now": {"N": repr(now)}}, now)

    def _claim(
        self, key_arn: str, holder: str, condition: str, values: dict[str, Any], now: float
    ) -> dict[str, Any] | None:
        """Make ``holder`` the lock's holder for ``ttl`` seconds from ``now`` on ``condition``: the lock's item
        (None: it did not hold)."""
        try:
            answer = self.client.update_item(
                TableName=self.table,
                Key=self._key(key_arn),
                UpdateExpression="SET holder = :me, expires = :until",
                ConditionExpression=condition,
                ExpressionAttributeValues={
                    ":me": {"S": holder},
                    ":until": {"N": repr(now + self.ttl)},
                    **values,
                },
                ReturnValues="ALL_NEW",
            )
        except AwsError as exc:
            if exc.code == "ConditionalCheckFailedException":  # held by another, or let go or taken meanwhile
                return None
            raise
        return dict(answer.get("Attributes", {}))

    def _take_from_the_dead(self, key_arn: str, holder: str) -> dict[str, Any] | None:
        """Take the lock from a holder that is a process of this host no longer alive (its ``user@host:pid:thread``
        read, then replaced on condition that it still holds the lock)."""
        item = self.client.get_item(TableName=self.table, Key=self._key(key_arn), ConsistentRead=True).get("Item", {})
        dead = item.get("holder", {}).get("S", "")
        where, _, rest = dead.rpartition("@")[2].partition(":")
        pid = rest.partition(":")[0]
        if where != self.host or not pid.isdigit() or alive(int(pid)):
            return None
        return self._claim(key_arn, holder, "holder = :dead", {":dead": {"S": dead}}, self.clock())

    def _count_wait(self, key_arn: str) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=self._key(key_arn),
            UpdateExpression="ADD waits :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )

    def _let_go(self, key_arn: str, holder: str, record: str | None) -> None:
        """Let go of the lock, leaving ``record`` on it when there is one. A holder whose lock expired (``ttl``: an
        edit held it 30 s) and was taken meanwhile leaves nothing, as the one that took it read the record before:
        the ledger then misses that holder's edit, and a later read-back may judge that access wrongly (an addition
        taken for an outside writer's and removed once more; a removal's access still counted as granted on purpose
        and left: aws/steps/key_edits.py)."""
        kept = {":record": {"S": record}} if record is not None else {}
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(key_arn),
                UpdateExpression="REMOVE holder, expires" + (" SET #record = :record" if kept else ""),
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": holder}, **kept},
                **({"ExpressionAttributeNames": {"#record": "record"}} if kept else {}),
            )
        except AwsError as exc:
            if exc.code != "ConditionalCheckFailedException":  # expired and taken meanwhile: not ours any more
                raise

    def waits(self, key_arn: str) -> int:
        """How often a writer had to wait for this key's lock (contention, as the journal records it)."""
        item = self.client.get_item(TableName=self.table, Key=self._key(key_arn), ConsistentRead=True).get("Item", {})
        return int(item.get("waits", {}).get("N", "0"))
