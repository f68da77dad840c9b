# One role per function, granting exactly the actions deploy/iam-actions.json lists for it
# (terraform/tests/test_module.py holds the two together), each scoped to what it touches.

locals {
  amg_tag_conditions = [for key, value in var.amg_workspace_tags : {
    test     = "StringEquals"
    variable = "aws:ResourceTag/${key}"
    values   = [value]
  }]

  kms_via_secrets_manager = [{
    test     = "StringEquals"
    variable = "kms:ViaService"
    values   = ["secretsmanager.${local.region}.amazonaws.com"]
  }]

  # revoke-old may write and remove one tag only: the stragglers it keeps, for `keyshift status`.
  straggler_tag_only = [{
    test     = "ForAllValues:StringEquals"
    variable = "aws:TagKeys"
    values   = ["keyshift:stragglers"]
  }]

  kms_via_sqs = [{
    test     = "StringEquals"
    variable = "kms:ViaService"
    values   = ["sqs.${local.region}.amazonaws.com"]
  }]

  # What discover-keys may do to a managed workspace, and the part of it revoke-old needs. The
  # keyshift-target-account role grants the same in another account (output
  # target_account_workspace_actions).
  amg_administer_actions = [
    "grafana:DescribeWorkspace",
    "grafana:ListWorkspaceServiceAccounts",
    "grafana:CreateWorkspaceServiceAccount",
    "grafana:ListWorkspaceServiceAccountTokens",
    "grafana:CreateWorkspaceServiceAccountToken",
    "grafana:DeleteWorkspaceServiceAccountToken",
  ]
  amg_revoke_actions = ["grafana:ListWorkspaceServiceAccounts", "grafana:ListWorkspaceServiceAccountTokens", "grafana:DeleteWorkspaceServiceAccountToken"]

  managed_and_admin_secrets = concat([local.secret_arn_pattern], local.admin_secret_arns)

  # What rotate-secret does on AMG: mint and revoke its own bootstrap token, no DescribeWorkspace
  # (the secret's value names the Grafana URL).
  amg_bootstrap_actions = [
    "grafana:ListWorkspaceServiceAccounts",
    "grafana:CreateWorkspaceServiceAccount",
    "grafana:ListWorkspaceServiceAccountTokens",
    "grafana:CreateWorkspaceServiceAccountToken",
    "grafana:DeleteWorkspaceServiceAccountToken",
  ]
  rotated_secrets = distinct(concat([local.secret_arn_pattern], local.native_rotation_secret_arns))

  # Per function: statements of { sid, actions, resources, conditions }. A statement whose
  # resources are empty (no target accounts, no self-hosted admin secrets, no event bus) is
  # left out.
  function_statements = {
    "discover-keys" = [
      { sid = "AssumeTargetAccountRoles", actions = ["sts:AssumeRole"], resources = local.target_role_arns, conditions = [] },
      { sid = "AdministerManagedWorkspaces", actions = local.amg_administer_actions, resources = local.amg_workspace_arns, conditions = local.amg_tag_conditions },
      { sid = "SealAndUnsealTokens", actions = ["kms:Encrypt", "kms:Decrypt"], resources = [local.kms_key_arn], conditions = [] },
      { sid = "ReadManagedAndAdminSecrets", actions = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"], resources = local.managed_and_admin_secrets, conditions = [] },
    ]
    "create-sa" = [
      { sid = "UnsealBootstrapToken", actions = ["kms:Decrypt"], resources = [local.kms_key_arn], conditions = [] },
      { sid = "ReadAdminSecrets", actions = ["secretsmanager:GetSecretValue"], resources = local.admin_secret_arns, conditions = [] },
    ]
    "mint-token" = [
      { sid = "SealAndUnsealTokens", actions = ["kms:Encrypt", "kms:Decrypt"], resources = [local.kms_key_arn], conditions = [] },
      { sid = "ReadManagedAndAdminSecrets", actions = ["secretsmanager:GetSecretValue"], resources = local.managed_and_admin_secrets, conditions = [] },
    ]
    "store-secret" = [
      { sid = "UnsealTokens", actions = ["kms:Decrypt"], resources = [local.kms_key_arn], conditions = [] },
      { sid = "EncryptSecretVersions", actions = ["kms:GenerateDataKey"], resources = [local.kms_key_arn], conditions = local.kms_via_secrets_manager },
      {
        sid = "WriteManagedSecrets"
        actions = [
          "secretsmanager:DescribeSecret",
          "secretsmanager:CreateSecret",
          "secretsmanager:TagResource",
          "secretsmanager:GetSecretValue",
          "secretsmanager:PutSecretValue",
          "secretsmanager:UpdateSecretVersionStage",
        ]
        resources  = [local.secret_arn_pattern]
        conditions = []
      },
      # A stage or promote that loses a concurrent rotation deletes its own token as the
      # workspace admin, whose self-hosted credential is in the admin secret.
      { sid = "ReadAdminSecrets", actions = ["secretsmanager:GetSecretValue"], resources = local.admin_secret_arns, conditions = [] },
      { sid = "PublishRotationEvents", actions = ["events:PutEvents"], resources = local.event_bus_arns, conditions = local.event_source_conditions },
    ]
    "verify" = [
      { sid = "ReadManagedSecrets", actions = ["secretsmanager:GetSecretValue"], resources = [local.secret_arn_pattern], conditions = [] },
      { sid = "DecryptManagedSecrets", actions = ["kms:Decrypt"], resources = [local.kms_key_arn], conditions = local.kms_via_secrets_manager },
    ]
    "revoke-old" = [
      { sid = "AssumeTargetAccountRoles", actions = ["sts:AssumeRole"], resources = local.target_role_arns, conditions = [] },
      { sid = "RevokeInManagedWorkspaces", actions = local.amg_revoke_actions, resources = local.amg_workspace_arns, conditions = local.amg_tag_conditions },
      { sid = "UnsealBootstrapToken", actions = ["kms:Decrypt"], resources = [local.kms_key_arn], conditions = [] },
      { sid = "ReadManagedAndAdminSecrets", actions = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"], resources = local.managed_and_admin_secrets, conditions = [] },
      { sid = "RecordStragglers", actions = ["secretsmanager:TagResource", "secretsmanager:UntagResource"], resources = [local.secret_arn_pattern], conditions = local.straggler_tag_only },
    ]
    "rotate-secret" = [
      { sid = "AssumeTargetAccountRoles", actions = ["sts:AssumeRole"], resources = local.target_role_arns, conditions = [] },
      { sid = "BootstrapInManagedWorkspaces", actions = local.amg_bootstrap_actions, resources = local.amg_workspace_arns, conditions = local.amg_tag_conditions },
      { sid = "SealAndUnsealTokens", actions = ["kms:Encrypt", "kms:Decrypt"], resources = [local.kms_key_arn], conditions = [] },
      { sid = "EncryptSecretVersions", actions = ["kms:GenerateDataKey"], resources = [local.kms_key_arn], conditions = local.kms_via_secrets_manager },
      { sid = "ReadAdminSecrets", actions = ["secretsmanager:GetSecretValue"], resources = local.admin_secret_arns, conditions = [] },
      {
        sid = "RotateManagedSecrets"
        actions = [
          "secretsmanager:DescribeSecret",
          "secretsmanager:GetSecretValue",
          "secretsmanager:PutSecretValue",
          "secretsmanager:UpdateSecretVersionStage",
        ]
        resources  = local.rotated_secrets
        conditions = []
      },
      { sid = "PublishRotationEvents", actions = ["events:PutEvents"], resources = local.event_bus_arns, conditions = local.event_source_conditions },
    ]
    "fleet-start" = [
      { sid = "AssumeTargetAccountRoles", actions = ["sts:AssumeRole"], resources = local.target_role_arns, conditions = [] },
      { sid = "ListWorkspaces", actions = ["grafana:ListWorkspaces"], resources = ["*"], conditions = [] },
      { sid = "StartExecutions", actions = ["states:StartExecution"], resources = [local.state_machine_arn], conditions = [] },
      { sid = "LookUpExecutions", actions = ["states:DescribeExecution"], resources = [local.execution_arn_pattern], conditions = [] },
      { sid = "DeadLetterFailedStarts", actions = ["sqs:SendMessage"], resources = [aws_sqs_queue.dlq.arn], conditions = [] },
      { sid = "EncryptDlqMessages", actions = ["kms:GenerateDataKey", "kms:Decrypt"], resources = [local.kms_key_arn], conditions = [] },
    ]
    "dlq-replay" = [
      { sid = "DrainDlq", actions = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"], resources = [aws_sqs_queue.dlq.arn], conditions = [] },
      { sid = "StartExecutions", actions = ["states:StartExecution"], resources = [local.state_machine_arn], conditions = [] },
      { sid = "RedriveExecutions", actions = ["states:RedriveExecution", "states:DescribeExecution"], resources = [local.execution_arn_pattern], conditions = [] },
      { sid = "DecryptDlqMessages", actions = ["kms:Decrypt"], resources = [local.kms_key_arn], conditions = local.kms_via_sqs },
    ]
  }
}

# Each service keyshift's roles are for may assume them, from this account only.
data "aws_iam_policy_document" "assume" {
  for_each = {
    lambda        = "lambda.amazonaws.com"
    state_machine = "states.amazonaws.com"
    scheduler     = "scheduler.amazonaws.com"
  }

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [each.value]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each = toset(local.functions)

  name               = "${var.name}-${each.key}"
  description        = "keyshift ${each.key} Lambda: only the actions it calls"
  assume_role_policy = data.aws_iam_policy_document.assume["lambda"].json
  tags               = var.tags
}

data "aws_iam_policy_document" "function" {
  for_each = local.function_statements

  #checkov:skip=CKV_AWS_356:Only fleet-start's grafana:ListWorkspaces has Resource "*": the action supports no resource-level permissions.
  #checkov:skip=CKV_AWS_111:Writes are scoped to the secret prefix, the workspaces, the queue and the state machine; the one "*" is the read-only ListWorkspaces.
  dynamic "statement" {
    for_each = [for s in each.value : s if length(s.resources) > 0]
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
      dynamic "condition" {
        for_each = statement.value.conditions
        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this[each.key].arn}:*"]
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.function_statements

  name   = "${var.name}-${each.key}"
  role   = aws_iam_role.function[each.key].id
  policy = data.aws_iam_policy_document.function[each.key].json
}

# The roles of the state machine and of the schedules, each with its own statements
# (local.state_machine_statements in sfn.tf, local.scheduler_statements in schedule.tf), each
# { sid, actions, resources } with optional conditions.
locals {
  service_roles = {
    state-machine = {
      description = "keyshift rotate-workspace state machine: invoke the steps, send to the DLQ"
      service     = "state_machine"
    }
    scheduler = {
      description = "keyshift schedules: invoke fleet-start (and dlq-replay), dead-letter undeliverable ticks"
      service     = "scheduler"
    }
  }

  # Apart from the roles: the statements name the functions, whose key policy names the roles.
  service_statements = {
    state-machine = local.state_machine_statements
    scheduler     = local.scheduler_statements
  }
}

resource "aws_iam_role" "service" {
  for_each = local.service_roles

  name               = "${var.name}-${each.key}"
  description        = each.value.description
  assume_role_policy = data.aws_iam_policy_document.assume[each.value.service].json
  tags               = var.tags
}

data "aws_iam_policy_document" "service" {
  for_each = local.service_statements

  #checkov:skip=CKV_AWS_111:The state machine's log-delivery and X-Ray actions support no resource-level permissions (AWS documents Resource "*" for them).
  #checkov:skip=CKV_AWS_356:The state machine's log-delivery and X-Ray actions support no resource-level permissions.
  dynamic "statement" {
    for_each = each.value
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
      dynamic "condition" {
        for_each = try(statement.value.conditions, [])
        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}

resource "aws_iam_role_policy" "service" {
  for_each = local.service_statements

  name   = "${var.name}-${each.key}"
  role   = aws_iam_role.service[each.key].id
  policy = data.aws_iam_policy_document.service[each.key].json
}
