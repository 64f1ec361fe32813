"""DynamoDB through the local AWS (moto, its writes serialized by the sandbox): what the DynamoDB journal relies
on. Source: Amazon DynamoDB Developer Guide, "Condition expressions" (a conditional write is atomic: of many
writers racing on ``attribute_not_exists``, exactly one succeeds, the others get
``ConditionalCheckFailedException``) and "Amazon DynamoDB transactions" (``TransactWriteItems`` with a
``ConditionCheck`` on another item: all or nothing, ``TransactionCanceledException`` naming the failed condition)."""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import ClientError

from amishare.sandbox import Sandbox
from tests.support.world import OWNER, REGION

TABLE = "amishare-journal"


def _table(sb: Sandbox) -> Any:
    client = sb.session(OWNER, REGION).client("dynamodb")
    client.create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


def test_of_many_racing_conditional_writes_exactly_one_wins(sb: Sandbox) -> None:
    client = _table(sb)
    won: list[int] = []
    lost: list[str] = []

    def claim(n: int) -> None:
        mine = sb.session(OWNER, REGION).client("dynamodb")
        try:
            mine.put_item(
                TableName=TABLE,
                Item={"pk": {"S": "lease#run-1"}, "sk": {"S": "lease"}, "owner": {"S": str(n)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            won.append(n)
        except ClientError as exc:
            lost.append(exc.response["Error"]["Code"])

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and lost == ["ConditionalCheckFailedException"] * 11
    item = client.get_item(TableName=TABLE, Key={"pk": {"S": "lease#run-1"}, "sk": {"S": "lease"}})["Item"]
    assert item["owner"]["S"] == str(won[0])


def test_a_transaction_whose_condition_check_fails_writes_nothing(sb: Sandbox) -> None:
    client = _table(sb)
    lease = {"pk": {"S": "lease#run-1"}, "sk": {"S": "lease"}}
    client.put_item(TableName=TABLE, Item={**lease, "token": {"N": "2"}})
    action = {"pk": {"S": "run#run-1"}, "sk": {"S": "action#000000"}}
    fenced = [
        {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": lease,
                "ConditionExpression": "#t = :mine",
                "ExpressionAttributeNames": {"#t": "token"},
                "ExpressionAttributeValues": {":mine": {"N": "1"}},
            }
        },
        {"Put": {"TableName": TABLE, "Item": {**action, "state": {"S": "succeeded"}}}},
    ]
    try:
        client.transact_write_items(TransactItems=fenced)
        raise AssertionError("a runner holding token 1 wrote after token 2 took the lease")
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "TransactionCanceledException"
    assert "Item" not in client.get_item(TableName=TABLE, Key=action)
