"""The journal in a DynamoDB table (``journal = "dynamodb://TABLE"``): runs, actions and leases that every machine
sees, so ``runs``, ``runs show`` and ``resume`` work from anywhere, and a run can be driven slice by slice by
different processes (issue 18: the serverless engine).

One table, key ``pk`` (hash) and ``sk`` (range), strings (the CloudFormation amishare writes creates it; see
``CREATE_TABLE``):

    pk = "runs",          sk = "<created_at>#<run_id>"  a run's summary, for listing newest first
    pk = "run#<run_id>",  sk = "run"                    the same summary (status, finished_at ...)
    pk = "run#<run_id>",  sk = "plan#<n>"               the plan's JSON in parts of at most 300 KB (items: 400 KB)
    pk = "run#<run_id>",  sk = "action#<position>"      one action: key, kind, state, times, error, output
    pk = "lease#<name>",  sk = "lease"                  who drives a run (owner, host, pid, heartbeat, token)

Leases carry a fencing token that grows with each new holder. Every item a run writes carries the token of the
run's lease, and each update is conditional on no higher token having written the item; each batch of updates
first reads the lease back (still this token, or the batch is refused). So a runner whose lease was taken over
(it was frozen past ``stale_after``) cannot overwrite its successor's records, and stops at its next batch.
Conditional writes are atomic in DynamoDB (Developer Guide, "Condition expressions"). (Not one
``TransactWriteItems`` per batch: its price grows with the items, and moto copies the whole table for each.)
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlparse

from amishare.aws.dynamodb_locks import DynamoKeyLocks, DynamoLeases
from amishare.aws.session import Sessions
from amishare.engine.action import Action
from amishare.engine.executor import RunLog
from amishare.engine.flusher import Flusher
from amishare.engine.journal import ActionRecord, RunRecord
from amishare.engine.lease import phase_lease
from amishare.engine.partition import Phase
from amishare.engine.plan import Plan
from amishare.errors import AwsError, JournalError

SCHEME = "dynamodb://"
PLAN_PART = 300_000  # characters of plan JSON per item (DynamoDB items hold at most 400 KB)
BATCH_ITEMS = 25  # BatchWriteItem's limit
BATCH_ATTEMPTS = 8  # BatchWriteItem may leave items unprocessed (throttled): written again, then refused
WRITERS = 8  # item updates of one flush written concurrently
CREATE_TABLE = (
    "aws dynamodb create-table --table-name {table} --billing-mode PAY_PER_REQUEST "
    "--attribute-definitions AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=S "
    "--key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE"
)
_FIELDS = ("command", "account", "region", "image_id", "status", "created_at", "finished_at")


def parse_url(url: str, default_region: str) -> tuple[str, str]:
    """``dynamodb://TABLE[?region=R]`` -> (table, region)."""
    parsed = urlparse(url)
    if parsed.scheme != "dynamodb" or not parsed.netloc or parsed.path not in ("", "/"):
        raise JournalError(f"journal {url!r}: write it dynamodb://TABLE (or dynamodb://TABLE?region=REGION)")
    region = parse_qs(parsed.query).get("region", [default_region])[0]
    return parsed.netloc, region


def _run_of(pk: str, sk: str) -> str:
    """The run an item belongs to (its writes are fenced by that run's lease)."""
    return sk.rsplit("#", 1)[1] if pk == "runs" else pk.removeprefix("run#")


def _s(value: str | None) -> dict[str, Any]:
    return {"NULL": True} if value is None else {"S": value}


def _read(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name, {"NULL": True})
    return None if "NULL" in value else str(next(iter(value.values())))


class DynamoJournal(RunLog):
    """Runs and actions in a DynamoDB table; safe to use from the executor's threads (writes are batched)."""

    def __init__(self, sessions: Sessions, url: str, region: str, *, flush_interval: float = 0.05) -> None:
        self.url = url
        self.table, self.region = parse_url(url, region)
        self.client = sessions.client("dynamodb", self.region)
        self.leases = DynamoLeases(self.client, self.table)
        self.key_locks = DynamoKeyLocks(self.client, self.table)  # key policy edits, one writer across machines
        # what writes need of a run this process started, resumed or read: no read of the whole run per write
        self._positions: dict[str, dict[str, int]] = {}  # run -> action key -> position
        self._created: dict[str, str] = {}  # run -> created_at (its listing item's sort key)
        self._running: dict[str, set[str]] = {}  # run -> actions started and not finished in this process
        self._fence: dict[str, str] = {}  # run -> the lease this process writes it under (the run's or a phase's)
        self._pending_read: dict[str, set[str]] = {}  # run -> its actions ``run`` last read pending, without error
        self._pending: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}  # (pk, sk) -> attributes to set
        self._order: list[tuple[str, str]] = []
        self._queue = threading.Lock()  # the pending writes
        self._writing = threading.Lock()  # one batch at a time: a later change never lands before an earlier one
        self._flusher = Flusher(self.flush, flush_interval)
        self._check_table()

    def _check_table(self) -> None:
        try:
            self.client.describe_table(TableName=self.table)
        except AwsError as exc:
            if exc.code != "ResourceNotFoundException":
                raise JournalError(f"journal {self.url}: {exc}") from exc
            raise JournalError(
                f"journal {self.url}: no table {self.table} in {self.region}: create it (amishare's engine template "
                f"does), or with the AWS CLI:\n  `{CREATE_TABLE.format(table=self.table)} --region {self.region}`"
            ) from exc

    # ------------------------------------------------------------------ writes
    def _set(self, pk: str, sk: str, values: dict[str, dict[str, Any]]) -> None:
        """Queue ``values`` for the item (merged with what is queued for it: one write per item per batch)."""
        with self._queue:
            if (pk, sk) not in self._pending:
                self._order.append((pk, sk))
            self._pending.setdefault((pk, sk), {}).update(values)
        self._flusher.poke()

    def flush(self) -> None:
        """Write everything queued now, fenced (module docstring): the leases first checked still ours, then each
        item updated on condition that no newer holder wrote it."""
        with self._writing:
            self._write_batch()

    def _write_batch(self) -> None:
        with self._queue:
            order, pending = self._order, self._pending
            self._order, self._pending = [], {}
        if not order:
            return
        leases = {run: self._fence.get(run, run) for run in {_run_of(pk, sk) for pk, sk in order}}
        tokens = {run: self.leases.check(lease) for run, lease in leases.items()}
        writes = [(pk, sk, pending[(pk, sk)], tokens[_run_of(pk, sk)]) for pk, sk in order]
        with ThreadPoolExecutor(max_workers=min(WRITERS, len(writes))) as pool:
            for done in [pool.submit(self._write, *write) for write in writes]:
                done.result()

    def _write(self, pk: str, sk: str, values: dict[str, dict[str, Any]], token: int) -> None:
        names = {f"#a{n}": name for n, name in enumerate(values)}
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": pk}, "sk": {"S": sk}},
                UpdateExpression="SET " + ", ".join([*(f"#a{n} = :a{n}" for n in range(len(values))), "#tok = :tok"]),
                ConditionExpression="attribute_not_exists(#tok) OR #tok <= :tok",
                ExpressionAttributeNames={**names, "#tok": "token"},
                ExpressionAttributeValues={
                    **{f":a{n}": value for n, value in enumerate(values.values())},
                    ":tok": {"N": str(token)},
                },
            )
        except AwsError as exc:
            if exc.code == "ConditionalCheckFailedException":
                raise self._lost() from exc
            raise JournalError(f"journal {self.url}: {exc}") from exc

    def _lost(self) -> JournalError:
        return JournalError(
            f"journal {self.url}: this process no longer holds the run's lease (another took it over): its writes "
            "are refused; the run goes on there"
        )

    # ------------------------------------------------------------------- runs
    def start(self, run_id: str, plan: Plan, now: dt.datetime) -> None:
        """Record a new run, its plan and its actions, written before this returns (before any call to AWS)."""
        self.leases.acquire(run_id)
        self._fence[run_id] = run_id
        summary = {
            "command": _s(plan.command),
            "account": _s(plan.account),
            "region": _s(plan.region),
            "image_id": _s(plan.image_id),
            "status": _s("running"),
            "created_at": _s(now.isoformat()),
            "finished_at": _s(None),
        }
        self._positions[run_id] = {a.key: n for n, a in enumerate(plan.actions)}
        self._created[run_id] = now.isoformat()
        items = [
            ("runs", f"{now.isoformat()}#{run_id}", summary),
            (f"run#{run_id}", "run", {**summary, "index": _s(f"{now.isoformat()}#{run_id}")}),
            *self._plan_items(run_id, plan),
            *((f"run#{run_id}", f"action#{n:06d}", self._fresh(a)) for n, a in enumerate(plan.actions)),
        ]
        self._put_all(items, self.leases.check(run_id))

    def _fresh(self, action: Action) -> dict[str, dict[str, Any]]:
        return {
            "key": _s(action.key),
            "kind": _s(action.kind.value),
            "state": _s("pending"),
            "started_at": _s(None),
            "finished_at": _s(None),
            "error": _s(None),
            "output": _s("{}"),
        }

    def _plan_items(self, run_id: str, plan: Plan) -> list[tuple[str, str, dict[str, dict[str, Any]]]]:
        """The plan's JSON in parts of at most ``PLAN_PART`` characters, one item each."""
        text = json.dumps(plan.to_dict())
        parts = [text[i : i + PLAN_PART] for i in range(0, len(text), PLAN_PART)] or [""]
        return [(f"run#{run_id}", f"plan#{n:04d}", {"json": _s(part)}) for n, part in enumerate(parts)]

    def _put_all(self, items: list[tuple[str, str, dict[str, dict[str, Any]]]], token: int) -> None:
        """New items, 25 per BatchWriteItem (a run's first records: its lease was just taken), every item
        written before this returns."""
        requests = [
            {"PutRequest": {"Item": {"pk": {"S": pk}, "sk": {"S": sk}, **values, "token": {"N": str(token)}}}}
            for pk, sk, values in items
        ]
        for start in range(0, len(requests), BATCH_ITEMS):
            unprocessed: dict[str, Any] = {self.table: requests[start : start + BATCH_ITEMS]}
            for _ in range(BATCH_ATTEMPTS):
                try:
                    answer = self.client.batch_write_item(RequestItems=unprocessed)
                except AwsError as exc:
                    raise JournalError(f"journal {self.url}: {exc}") from exc
                unprocessed = answer.get("UnprocessedItems") or {}
                if not unprocessed:
                    break
                time.sleep(0.05)
            else:
                raise JournalError(f"journal {self.url}: DynamoDB left items unwritten {BATCH_ATTEMPTS} times")

    def resume(self, run_id: str, keys: list[str], phase: Phase | None = None) -> None:
        """Mark a run running again (its lease taken, or ``RunBusy``); its unfinished actions go back to pending.
        A phase's slice takes the phase's lease, writes under it, and leaves the run's summary alone (the phases of
        one run may be driven at once)."""
        lease = phase_lease(run_id, phase.name if phase else None)
        self.leases.acquire(lease)
        self._fence[run_id] = lease
        self._learn(run_id)
        if phase is None:
            self._status(run_id, "running", None)
        already = self._pending_read.pop(run_id, set())  # read just before (api.resume): no write needed
        for key in keys:
            if key not in already:
                self._action(run_id, key, {"state": _s("pending"), "error": _s(None)})
        self.flush()

    def revise(self, run_id: str, plan: Plan, superseded: tuple[str, ...]) -> None:
        """The run's plan grew (a resume makes failed copies again): the new plan, its new actions, the replaced
        ones ``superseded``; written before this returns."""
        known = self._positions.setdefault(run_id, {})
        for pk, sk, values in self._plan_items(run_id, plan):
            self._set(pk, sk, values)
        for action in plan.actions:
            if action.key not in known:
                known[action.key] = len(known)
                self._set(f"run#{run_id}", f"action#{known[action.key]:06d}", self._fresh(action))
        for key in superseded:
            self._action(run_id, key, {"state": _s("superseded")})
        self.flush()

    def _learn(self, run_id: str) -> None:
        """Read the run back once when this process does not know it yet (``run`` remembers what writes need)."""
        if run_id not in self._positions or run_id not in self._created:
            self.run(run_id)

    def _action(self, run_id: str, key: str, values: dict[str, dict[str, Any]]) -> None:
        if key not in self._positions.get(run_id, {}):  # a run this process did not start or resume
            self._positions.pop(run_id, None)
            self._learn(run_id)
        self._set(f"run#{run_id}", f"action#{self._positions[run_id][key]:06d}", values)

    def action_started(self, run_id: str, action: Action, now: dt.datetime) -> None:
        self._running.setdefault(run_id, set()).add(action.key)
        self._action(run_id, action.key, {"state": _s("running"), "started_at": _s(now.isoformat())})

    def action_progress(self, run_id: str, action: Action, output: dict[str, Any]) -> None:
        self._action(run_id, action.key, {"output": _s(json.dumps(output))})

    def action_finished(
        self,
        run_id: str,
        action: Action,
        state: str,
        now: dt.datetime,
        output: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        self._running.get(run_id, set()).discard(action.key)
        self._action(
            run_id,
            action.key,
            {
                "state": _s(state),
                "finished_at": _s(now.isoformat()),
                "output": _s(json.dumps(output or {})),
                "error": _s(error),
            },
        )

    def finish(self, run_id: str, status: str, now: dt.datetime, phase: Phase | None = None) -> None:
        self._learn(run_id)
        if status == "interrupted":  # what was under way when the run stopped
            for key in sorted(self._running.get(run_id, ())):
                self._action(run_id, key, {"state": _s("interrupted")})
        self._running.pop(run_id, None)
        if phase is None:
            self._status(run_id, status, now.isoformat())
        self.flush()
        self.leases.release(self._fence.pop(run_id, run_id))

    def _status(self, run_id: str, status: str, finished_at: str | None) -> None:
        values = {"status": _s(status), "finished_at": _s(finished_at)}
        self._set(f"run#{run_id}", "run", values)
        self._set("runs", f"{self._created[run_id]}#{run_id}", values)

    # ------------------------------------------------------------------- reads
    def _query(self, pk: str, **extra: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        while True:
            page = self.client.query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": pk}},
                ConsistentRead=True,
                **extra,
                **({"ExclusiveStartKey": start} if start else {}),
            )
            items += page["Items"]
            start = page.get("LastEvaluatedKey")
            if not start or ("Limit" in extra and len(items) >= extra["Limit"]):
                return items

    def runs(self, limit: int = 50) -> list[RunRecord]:
        """The newest ``limit`` runs (their plans not read: ``run`` reads one whole)."""
        self.flush()
        items = self._query("runs", ScanIndexForward=False, Limit=limit)[:limit]
        return [self._summary(i["sk"]["S"].rsplit("#", 1)[1], i) for i in items]

    def run(self, run_id: str) -> RunRecord:
        """One run with its plan and actions (``JournalError`` when there is none)."""
        self.flush()
        items = self._query(f"run#{run_id}")
        head = next((i for i in items if i["sk"]["S"] == "run"), None)
        if head is None:
            known = ", ".join(r.run_id for r in self.runs(5)) or "none yet"
            raise JournalError(f"no run {run_id!r} in {self.url} (latest: {known}); `amishare runs` lists them")
        ordered = sorted(items, key=lambda i: str(i["sk"]["S"]))
        plan_text = "".join(i["json"]["S"] for i in ordered if i["sk"]["S"].startswith("plan#"))
        summary = self._summary(run_id, head)
        gone = summary.status == "interrupted" and _read(head, "status") == "running"
        actions = tuple(
            ActionRecord(
                key=str(_read(i, "key")),
                kind=str(_read(i, "kind")),
                state="interrupted" if gone and _read(i, "state") == "running" else str(_read(i, "state")),
                started_at=_read(i, "started_at"),
                finished_at=_read(i, "finished_at"),
                error=_read(i, "error"),
                output=json.loads(_read(i, "output") or "{}"),
            )
            for i in ordered
            if i["sk"]["S"].startswith("action#")
        )
        self._positions[run_id] = {a.key: n for n, a in enumerate(actions)}
        self._pending_read[run_id] = {a.key for a in actions if a.state == "pending" and a.error is None}
        self._created[run_id] = summary.created_at
        return RunRecord(**{**vars(summary), "plan": json.loads(plan_text or "{}"), "actions": actions})

    def _summary(self, run_id: str, item: dict[str, Any]) -> RunRecord:
        values = {name: _read(item, name) for name in _FIELDS}
        gone = values["status"] == "running" and self.leases.holder(run_id) is None
        return RunRecord(
            run_id=run_id,
            command=str(values["command"]),
            account=str(values["account"]),
            region=str(values["region"]),
            image_id=str(values["image_id"]),
            status="interrupted" if gone else str(values["status"]),
            created_at=str(values["created_at"]),
            finished_at=values["finished_at"],
            plan={},
        )

    # ---------------------------------------------------------------- triggers
    def claim_trigger(self, trigger: str) -> str | None:
        """Claim the event ``trigger`` for a new run: None when this caller is the first (it goes on to plan);
        else the run the first one started ("" while it is still planning, or when there was nothing to do)."""
        key = {"pk": {"S": f"trigger#{trigger}"}, "sk": {"S": "trigger"}}
        try:
            self.client.put_item(
                TableName=self.table,
                Item={**key, "run_id": {"S": ""}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except AwsError as exc:
            if exc.code != "ConditionalCheckFailedException":
                raise JournalError(f"journal {self.url}: {exc}") from exc
            item = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item", {})
            return str(item.get("run_id", {}).get("S", ""))
        return None

    def record_trigger(self, trigger: str, run_id: str) -> None:
        """The run the event ``trigger`` started ("": none, the plan was empty)."""
        self.client.update_item(
            TableName=self.table,
            Key={"pk": {"S": f"trigger#{trigger}"}, "sk": {"S": "trigger"}},
            UpdateExpression="SET run_id = :run",
            ExpressionAttributeValues={":run": {"S": run_id}},
        )

    def close(self) -> None:
        self._flusher.close()
        self.flush()
        self.leases.close()
