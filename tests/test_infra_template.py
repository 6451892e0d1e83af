"""The stack's security properties, asserted on the template itself.

moto's CloudFormation silently skips bucket policies, alarms, Budgets, Backup and more
(and ignores PITR and lifecycle rules), so a green moto deploy proves none of them;
these tests read ``infra/plotpalette.yaml`` and check what AWS would create.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .infra_support import ROOT, TEMPLATE, USER_POLICIES, load_template, resources

T = load_template()
R = T["Resources"]


def text(value) -> str:
    return json.dumps(value)


def test_cfn_lint_reports_no_errors():
    import yaml
    from cfnlint.api import ManualArgs, lint

    regions = yaml.safe_load((ROOT / ".cfnlintrc").read_text(encoding="utf-8"))["regions"]
    for path in (TEMPLATE, USER_POLICIES):
        matches = lint(path.read_text(encoding="utf-8"), config=ManualArgs(regions=regions))
        errors = [m for m in matches if m.rule.id.startswith("E")]
        assert errors == [], [str(m) for m in errors]


def test_bucket_is_encrypted_versioned_private_and_tls_only():
    props = R["WorkspaceBucket"]["Properties"]
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert props["VersioningConfiguration"]["Status"] == "Enabled"
    assert "ObjectLockEnabled" not in props  # the store deletes and replaces objects
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert R["WorkspaceBucket"]["DeletionPolicy"] == "Retain"
    statements = R["WorkspaceBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    insecure = [s for s in statements if "aws:SecureTransport" in text(s.get("Condition"))]
    assert insecure and insecure[0]["Effect"] == "Deny" and insecure[0]["Action"] == "s3:*"
    assert insecure[0]["Condition"]["Bool"]["aws:SecureTransport"] == "false"


def test_bucket_lifecycle_aborts_uploads_expires_versions_and_archives_job_data():
    rules = R["WorkspaceBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert all(r["Status"] == "Enabled" for r in rules)
    assert any(
        r.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation") for r in rules
    )
    assert any("NoncurrentVersionExpiration" in r for r in rules)
    archive = [r for r in rules if "Transitions" in r]
    assert archive and archive[0]["Prefix"] == "workspace/jobs/"
    assert archive[0]["Transitions"][0]["StorageClass"] == "STANDARD_IA"


def test_registry_table_matches_the_tables_contract():
    props = R["RegistryTable"]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    keys = {k["AttributeName"]: k["KeyType"] for k in props["KeySchema"]}
    assert keys == {"pk": "HASH", "sk": "RANGE"}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["DeletionProtectionEnabled"] == {"Fn::If": ["ProtectTable", True, False]}
    assert R["RegistryTable"]["DeletionPolicy"] == "Retain"


def test_prod_parameter_set_turns_deletion_protection_on():
    from plotpalette.aws.stack_support import ENV_PARAMETERS

    assert ENV_PARAMETERS["prod"]["DeletionProtection"] == "true"
    assert ENV_PARAMETERS["dev"]["DeletionProtection"] == "false"
    # Every parameter a set names exists in the template, with an allowed value.
    for values in ENV_PARAMETERS.values():
        for key, value in values.items():
            param = T["Parameters"][key]
            if "AllowedValues" in param:
                assert value in [str(v) for v in param["AllowedValues"]], (key, value)


def test_backup_plan_covers_table_and_bucket_in_an_encrypted_vault():
    selection = R["BackupSelection"]["Properties"]["BackupSelection"]
    assert {"Fn::GetAtt": ["RegistryTable", "Arn"]} in selection["Resources"]
    assert {"Fn::GetAtt": ["WorkspaceBucket", "Arn"]} in selection["Resources"]
    rule = R["BackupPlan"]["Properties"]["BackupPlan"]["BackupPlanRule"][0]
    assert rule["ScheduleExpression"].startswith("cron(")
    assert rule["Lifecycle"]["DeleteAfterDays"] == {"Ref": "BackupRetentionDays"}
    assert "EncryptionKeyArn" in R["BackupVault"]["Properties"]


def test_alarm_topic_uses_a_customer_key_that_cloudwatch_and_budgets_may_use():
    topic = R["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "OpsKey"}  # not alias/aws/sns
    assert "aws/sns" not in text(T)
    key_statements = R["OpsKey"]["Properties"]["KeyPolicy"]["Statement"]
    services = set()
    for s in key_statements:
        if "kms:GenerateDataKey*" in s["Action"]:
            services |= set(s["Principal"].get("Service", []))
    assert {"cloudwatch.amazonaws.com", "budgets.amazonaws.com"} <= services
    assert R["OpsKey"]["Properties"]["EnableKeyRotation"] is True


def test_every_alarm_notifies_the_topic():
    alarms = resources(T, "AWS::CloudWatch::Alarm")
    names = {a["Properties"]["AlarmName"]["Fn::Sub"].split("}-", 1)[1] for a in alarms.values()}
    assert {
        "worker-crash",
        "record-failures",
        "spend-per-hour",
        "batch-jobs-failed",
        "jobs-stuck-runnable",
        "registry-throttles",
        "bedrock-throttles-1",
        "bedrock-client-errors-1",
    } <= names
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["Properties"]["AlarmDescription"], name


def test_alarms_watch_the_metrics_workers_emit():
    from plotpalette.aws.metrics import NAMESPACE, Checkpoint, ModelUsage, emf_documents

    docs = emf_documents(
        Checkpoint("j", records_ok=1, records_failed=1, models=(ModelUsage("m", cost_usd=1.0),)),
        stack="s",
    )
    emitted = {m["Name"] for d in docs for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    for logical in ("SpendPerHourAlarm", "RecordFailuresAlarm"):
        props = R[logical]["Properties"]
        assert props["Namespace"] == NAMESPACE
        assert props["MetricName"] in emitted
        assert props["Dimensions"] == [{"Name": "Stack", "Value": {"Ref": "AWS::StackName"}}]


def test_bedrock_alarms_are_per_model():
    for i in (1, 2, 3):
        for kind, metric in (
            ("Throttles", "InvocationThrottles"),
            ("ClientErrors", "InvocationClientErrors"),
        ):
            props = R[f"Bedrock{kind}Model{i}Alarm"]["Properties"]
            assert props["Namespace"] == "AWS/Bedrock" and props["MetricName"] == metric
            assert props["Dimensions"] == [
                {"Name": "ModelId", "Value": {"Ref": f"AlarmModelId{i}"}}
            ]


def test_budget_alerts_on_bedrock_spend_through_the_topic():
    budget = R["BedrockBudget"]["Properties"]
    assert budget["Budget"]["CostFilters"] == {"Service": ["Amazon Bedrock"]}
    subs = [s for n in budget["NotificationsWithSubscribers"] for s in n["Subscribers"]]
    assert subs and all(
        s == {"SubscriptionType": "SNS", "Address": {"Ref": "AlarmTopic"}} for s in subs
    )


def test_batch_queue_tries_spot_first_and_job_definition_retries_interruptions():
    spot = R["SpotComputeEnvironment"]["Properties"]["ComputeResources"]
    assert spot["Type"] == "FARGATE_SPOT"
    assert R["OnDemandComputeEnvironment"]["Properties"]["ComputeResources"]["Type"] == "FARGATE"
    assert R["OnDemandComputeEnvironment"]["Condition"] == "UseOnDemand"
    order = R["JobQueue"]["Properties"]["ComputeEnvironmentOrder"]["Fn::If"]
    assert order[1][0] == {"Order": 1, "ComputeEnvironment": {"Ref": "SpotComputeEnvironment"}}
    jd = R["WorkerJobDefinition"]["Properties"]
    assert jd["ContainerProperties"]["RuntimePlatform"]["CpuArchitecture"] == "X86_64"
    assert jd["Timeout"]["AttemptDurationSeconds"] == {"Ref": "JobTimeoutSeconds"}
    assert jd["ContainerProperties"]["LogConfiguration"]["LogDriver"] == "awslogs"
    rules = jd["RetryStrategy"]["EvaluateOnExit"]
    retry = [r for r in rules if r["Action"] == "RETRY"]
    assert {"OnExitCode": "5", "Action": "RETRY"} in retry
    assert any(r.get("OnStatusReason", "").startswith("Host EC2") for r in retry)
    assert rules[-1] == {"OnReason": "*", "Action": "EXIT"}
    # The worker's interrupted exit code is 5 (the CLI's documented code).
    from plotpalette.jobs.states import EXIT_BY_STATE, JobState

    assert EXIT_BY_STATE[JobState.INTERRUPTED] == 5
    # The bootstrap execs the worker so SIGTERM reaches Python.
    assert 'exec "$@"' in jd["ContainerProperties"]["Command"][2]


def test_workers_have_no_inbound_port_and_only_https_out():
    sg = R["WorkerSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in sg
    assert [(e["IpProtocol"], e["FromPort"], e["ToPort"]) for e in sg["SecurityGroupEgress"]] == [
        ("tcp", 443, 443)
    ]


def test_log_groups_have_retention_and_encryption():
    groups = resources(T, "AWS::Logs::LogGroup")
    assert len(groups) == 2
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert "KmsKeyId" in group["Properties"]


# ------------------------------------------------------------------ IAM

DATA_SERVICES = ("s3", "dynamodb", "bedrock", "kms", "sns", "batch", "logs", "iam", "scheduler")


def policy_statements(template):
    for name, res in template["Resources"].items():
        props = res["Properties"]
        for policy in props.get("Policies", []):
            for s in policy["PolicyDocument"]["Statement"]:
                yield name, s
        if res["Type"] == "AWS::IAM::ManagedPolicy":
            for s in props["PolicyDocument"]["Statement"]:
                yield name, s


def as_list(value):
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("path", [TEMPLATE, USER_POLICIES], ids=lambda p: p.name)
def test_no_wildcard_actions_on_data_services(path):
    for name, s in policy_statements(load_template(path)):
        for action in as_list(s["Action"]):
            service, _, verb = action.partition(":")
            assert verb != "*" and action != "*", (name, action)
            if service in DATA_SERVICES:
                assert "*" not in verb, (name, action)


def test_stack_roles_only_touch_this_stacks_resources():
    for name, s in policy_statements(T):
        for resource in as_list(s["Resource"]):
            assert resource != "*", (name, s)
            flat = text(resource)
            if "s3:" in text(s["Action"]):
                assert "WorkspaceBucket" in flat, (name, s)
            if "dynamodb:" in text(s["Action"]):
                assert "RegistryTable" in flat, (name, s)
            if "kms:" in text(s["Action"]):
                assert "OpsKey" in flat, (name, s)


def test_worker_may_invoke_only_the_configured_models():
    statement = next(
        s
        for n, s in policy_statements(T)
        if n == "WorkerRole" and "bedrock:InvokeModel" in s["Action"]
    )
    assert set(statement["Action"]) == {
        "bedrock:InvokeModel",
        "bedrock:InvokeModelWithResponseStream",
    }
    flat = text(statement["Resource"])
    assert "BedrockModelArns" in flat and "InferenceProfileArns" in flat
    assert "foundation-model/*" not in flat


def test_bedrock_batch_role_is_trusted_by_bedrock_for_this_account_only():
    trust = R["BedrockBatchRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "bedrock.amazonaws.com"}
    cond = trust["Condition"]
    assert cond["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert "model-invocation-job/*" in text(cond["ArnLike"]["aws:SourceArn"])


def test_use_policy_includes_the_marketplace_first_call_permissions():
    statements = [s for n, s in policy_statements(load_template(USER_POLICIES)) if n == "UsePolicy"]
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert {"aws-marketplace:ViewSubscriptions", "aws-marketplace:Subscribe"} <= actions


# ------------------------------------------------------------------ checkov skips


def checkov_skips(path: Path) -> list[tuple[str, str]]:
    out = []
    for res in load_template(path)["Resources"].values():
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
            out.append((skip["id"], skip.get("comment", "")))
    return out


NEVER_SKIP = {
    "CKV_AWS_107",
    "CKV_AWS_108",
    "CKV_AWS_109",
    "CKV_AWS_110",
    "CKV_AWS_111",  # IAM wildcards
    "CKV_AWS_53",
    "CKV_AWS_54",
    "CKV_AWS_55",
    "CKV_AWS_56",  # S3 public access
    "CKV_AWS_28",  # DynamoDB PITR
    "CKV_AWS_66",  # log retention
}


def test_checkov_skips_are_justified_allowed_and_documented():
    page = (ROOT / "book" / "security.md").read_text(encoding="utf-8")
    skips = checkov_skips(TEMPLATE) + checkov_skips(USER_POLICIES)
    assert skips, "expected the documented CKV_AWS_18 skip"
    for check_id, comment in skips:
        assert check_id not in NEVER_SKIP, check_id
        assert len(comment.split()) >= 8, f"{check_id} needs a real justification"
        assert re.search(rf"\b{check_id}\b", page), f"{check_id} is not in book/security.md"


def test_dashboard_body_is_valid_json_showing_the_emitted_metrics():
    body = R["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    filled = re.sub(r"\$\{SpendPerHourThresholdUsd\}", "5", body)
    filled = re.sub(r"\$\{[^}]+\}", "x", filled)
    widgets = json.loads(filled)["widgets"]
    shown = {
        m[1]
        for w in widgets
        for m in w["properties"].get("metrics", [])
        if m[0] in ("PlotPalette", "PlotPalette/x")
    }
    assert {"RecordsOk", "CostUSD", "InputTokens", "LatencyMs", "Throttles"} <= shown
    alarms = next(w for w in widgets if w["type"] == "alarm")["properties"]["alarms"]
    assert len(alarms) == 8
