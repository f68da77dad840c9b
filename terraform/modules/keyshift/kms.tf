# One customer-managed key for the secrets, the queues, the log groups, the schedules, the
# functions' environment and the sealing of tokens in state payloads.
resource "aws_kms_key" "this" {
  count = local.create_kms_key ? 1 : 0

  description             = "${var.name}: Grafana tokens in Secrets Manager, sealed payloads, DLQ, logs"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  count = local.create_kms_key ? 1 : 0

  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this[0].key_id
}

data "aws_iam_policy_document" "kms" {
  count = local.create_kms_key ? 1 : 0

  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" means this key only; the account root statement is what lets IAM administer it.
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key only; writes are limited to the principals named.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key only.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "KeyshiftRolesUseTheKey"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    principals {
      type = "AWS"
      identifiers = concat(
        [for role in aws_iam_role.function : role.arn],
        [aws_iam_role.service["state-machine"].arn, aws_iam_role.service["scheduler"].arn],
      )
    }
  }

  statement {
    sid       = "CloudWatchLogsEncryptsKeyshiftLogGroups"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/*/${var.name}-*"]
    }
  }

  statement {
    sid       = "EventBridgeSendsToTheEncryptedDlq"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${var.name}-execution-failed"]
    }
  }
}

resource "aws_kms_key_policy" "this" {
  count = local.create_kms_key ? 1 : 0

  key_id = aws_kms_key.this[0].id
  policy = data.aws_iam_policy_document.kms[0].json
}
