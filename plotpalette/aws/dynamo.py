"""``DynamoTables``: the registry's :class:`~plotpalette.tables.Tables` contract on one
DynamoDB table.

Table design (one table per workspace, or several workspaces per table under
different kinds is *not* supported — one table per workspace keeps IAM simple)::

    pk (S, hash)   the item's kind: "job", "unit", "budget", "quota", "worker", ...
                   or "log#<name>" for an append-only log ("log#ledger", "log#events")
    sk (S, range)  the item's key, e.g. "<job_id>" or "<job_id>/u0007"
    data (S)       the item's JSON (a string, so floats round-trip without Decimal)
    version (N)    1 on create, +1 on every successful replace
    expires_at (N) optional TTL (epoch seconds), copied from data["expires_at"]

Every write is a single-item conditional write: create is ``attribute_not_exists(pk)``,
replace and versioned delete are ``version = :v``; reads and queries are strongly
consistent (``ConsistentRead=True``); queries page with ``Limit`` and
``ExclusiveStartKey``. Capacity is on-demand (:func:`create_table`). Throttling is
retried by botocore's standard retry mode.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlparse

from ..errors import WorkspaceError
from ..tables import Item, Page, decode_token, encode_data, encode_token
from .session import aws_client, error_code, translate_error

__all__ = ["DynamoTables", "create_table", "table_problems"]

KEY_SCHEMA = [
    {"AttributeName": "pk", "KeyType": "HASH"},
    {"AttributeName": "sk", "KeyType": "RANGE"},
]
ATTRIBUTES = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "S"},
]
TTL_ATTRIBUTE = "expires_at"
LOG_PREFIX = "log#"


def create_table(client: Any, name: str, *, wait: bool = True) -> None:
    """Create the registry table (on-demand capacity, TTL on ``expires_at``).

    The CloudFormation template in ``infra/`` must declare the same key schema; this
    helper serves tests and ``plotpalette workspace create-table``.
    """
    import botocore.exceptions

    where = f"the DynamoDB table {name} ({client.meta.region_name})"
    needs = "dynamodb:CreateTable, DescribeTable and UpdateTimeToLive"
    try:
        client.create_table(
            TableName=name,
            KeySchema=KEY_SCHEMA,
            AttributeDefinitions=ATTRIBUTES,
            BillingMode="PAY_PER_REQUEST",
        )
        if wait:
            client.get_waiter("table_exists").wait(
                TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
            )
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == "ResourceInUseException":
            raise WorkspaceError(
                f"{where} already exists",
                fix=f"Use it (PLOTPALETTE_TABLE={name}) or choose another name.",
            ) from None
        raise translate_error(exc, action="create", where=where, needs=needs) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise translate_error(exc, action="create", where=where, needs=needs) from exc


def table_problems(description: dict[str, Any]) -> list[str]:
    """What makes a described table unusable as a registry (empty when it is fine)."""
    problems = []
    schema = sorted((k["AttributeName"], k["KeyType"]) for k in description["KeySchema"])
    if schema != [("pk", "HASH"), ("sk", "RANGE")]:
        problems.append(f"its key schema is {schema}, not pk (HASH) + sk (RANGE)")
    types = {a["AttributeName"]: a["AttributeType"] for a in description["AttributeDefinitions"]}
    if types.get("pk") != "S" or types.get("sk") != "S":
        problems.append("pk and sk must be strings (S)")
    return problems


class DynamoTables:
    """:class:`~plotpalette.tables.Tables` on the DynamoDB table ``table``."""

    def __init__(
        self,
        table: str,
        *,
        client: Any = None,
        region: str | None = None,
        profile: str | None = None,
        check: bool = True,
    ) -> None:
        self.table = table
        self.client = client or aws_client("dynamodb", region=region, profile=profile)
        self.region = self.client.meta.region_name
        self.url = f"dynamodb://{table}?region={self.region}"
        if check:
            self.check()

    @classmethod
    def from_url(cls, url: str, *, client: Any = None) -> DynamoTables:
        """``dynamodb://<table>[?region=...&profile=...]``."""
        parsed = urlparse(url)
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        if parsed.scheme != "dynamodb" or not parsed.netloc:
            raise WorkspaceError(
                f"not a DynamoDB tables URL: {url!r}", fix="Write dynamodb://<table-name>."
            )
        return cls(
            parsed.netloc, client=client, region=query.get("region"), profile=query.get("profile")
        )

    # -- helpers -----------------------------------------------------------------
    def _fail(self, exc: BaseException, action: str) -> WorkspaceError:
        if error_code(exc) == "ResourceNotFoundException":
            return WorkspaceError(
                f"the registry table {self.table!r} does not exist in {self.region}",
                fix="Deploy the stack (`plotpalette deploy`), create the table with "
                "`plotpalette workspace create-table NAME`, or name the right table and "
                "Region (PLOTPALETTE_TABLE, PLOTPALETTE_REGION).",
            )
        needs = (
            "dynamodb:GetItem, PutItem, DeleteItem, Query and DescribeTable on "
            f"arn:aws:dynamodb:{self.region}:<account>:table/{self.table}"
        )
        where = f"the registry table {self.table} ({self.region})"
        return translate_error(exc, action=action, where=where, needs=needs)

    def _call(self, action: str, method: str, **kwargs: Any) -> Any:
        import botocore.exceptions

        try:
            return getattr(self.client, method)(TableName=self.table, **kwargs)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise self._fail(exc, action) from exc

    def _conditional(self, method: str, **kwargs: Any) -> bool:
        """A conditional write: True if it happened, False if its condition failed."""
        import botocore.exceptions

        try:
            getattr(self.client, method)(TableName=self.table, **kwargs)
            return True
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise self._fail(exc, "write to") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise self._fail(exc, "write to") from exc

    @staticmethod
    def _key(kind: str, key: str) -> dict[str, Any]:
        if not kind or not key:
            raise WorkspaceError(
                f"an item needs a non-empty kind and key (got {kind!r}, {key!r})",
                fix="Give every item a kind and a key.",
            )
        return {"pk": {"S": kind}, "sk": {"S": key}}

    @staticmethod
    def _attrs(kind: str, key: str, text: str, version: int, data: dict[str, Any]) -> dict:
        item = {**DynamoTables._key(kind, key), "data": {"S": text}, "version": {"N": str(version)}}
        expires = data.get(TTL_ATTRIBUTE)
        if isinstance(expires, (int, float)) and not isinstance(expires, bool):
            item[TTL_ATTRIBUTE] = {"N": str(int(expires))}
        return item

    def check(self) -> None:
        """Fail early, with a fix, if the table is missing or has the wrong key schema."""
        description = self._call("describe", "describe_table")["Table"]
        problems = table_problems(description)
        if problems:
            raise WorkspaceError(
                f"the DynamoDB table {self.table!r} is not a Plot Palette registry: "
                + "; ".join(problems),
                fix="Use the table the stack created, or a new one from "
                "`plotpalette workspace create-table NAME`.",
            )

    # -- Tables --------------------------------------------------------------------
    def get(self, kind: str, key: str) -> Item | None:
        reply = self._call("read", "get_item", Key=self._key(kind, key), ConsistentRead=True)
        raw = reply.get("Item")
        if raw is None:
            return None
        return Item(kind, key, json.loads(raw["data"]["S"]), int(raw["version"]["N"]))

    def create(self, kind: str, key: str, data: dict[str, Any]) -> Item | None:
        text = encode_data(data)
        ok = self._conditional(
            "put_item",
            Item=self._attrs(kind, key, text, 1, data),
            ConditionExpression="attribute_not_exists(pk)",
        )
        return Item(kind, key, json.loads(text), 1) if ok else None

    def replace(self, kind: str, key: str, data: dict[str, Any], *, version: int) -> Item | None:
        text = encode_data(data)
        ok = self._conditional(
            "put_item",
            Item=self._attrs(kind, key, text, version + 1, data),
            ConditionExpression="version = :v",
            ExpressionAttributeValues={":v": {"N": str(version)}},
        )
        return Item(kind, key, json.loads(text), version + 1) if ok else None

    def delete(self, kind: str, key: str, *, version: int | None = None) -> bool:
        if version is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": {"N": str(version)}},
            }
        return self._conditional("delete_item", Key=self._key(kind, key), **condition)

    def _page(self, pk: str, prefix: str, limit: int, token: str | None) -> tuple[list, str | None]:
        if limit < 1:
            raise WorkspaceError(f"page limit must be at least 1, not {limit}")
        values: dict[str, Any] = {":pk": {"S": pk}}
        condition = "pk = :pk"
        if prefix:
            condition += " AND begins_with(sk, :prefix)"
            values[":prefix"] = {"S": prefix}
        args: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
            "Limit": limit + 1,  # one more than asked: a next page exists only if it came
        }
        if token:
            args["ExclusiveStartKey"] = {"pk": {"S": pk}, "sk": {"S": decode_token(token)}}
        rows: list[dict[str, Any]] = []
        while len(rows) <= limit:  # DynamoDB may stop early at 1 MB per response
            reply = self._call("query", "query", **args)
            rows += reply.get("Items", [])
            last = reply.get("LastEvaluatedKey")
            if not last:
                break
            args["ExclusiveStartKey"] = last
            args["Limit"] = limit + 1 - len(rows)
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (encode_token(rows[-1]["sk"]["S"]) if more else None)

    def query(
        self, kind: str, prefix: str = "", *, limit: int = 100, token: str | None = None
    ) -> Page:
        rows, nxt = self._page(kind, prefix, limit, token)
        items = [
            Item(kind, r["sk"]["S"], json.loads(r["data"]["S"]), int(r["version"]["N"]))
            for r in rows
        ]
        return Page(items, nxt)

    def append(self, log: str, key: str, data: dict[str, Any]) -> bool:
        text = encode_data(data)
        return self._conditional(
            "put_item",
            Item=self._attrs(LOG_PREFIX + log, key, text, 1, data),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def read_log(
        self, log: str, prefix: str = "", *, limit: int = 1000, token: str | None = None
    ) -> Page:
        rows, nxt = self._page(LOG_PREFIX + log, prefix, limit, token)
        return Page([Item(log, r["sk"]["S"], json.loads(r["data"]["S"]), 1) for r in rows], nxt)

    def close(self) -> None:
        """Nothing to release: boto3 clients pool their connections."""

    def __repr__(self) -> str:
        return f"DynamoTables({self.table!r}, region={self.region!r})"
