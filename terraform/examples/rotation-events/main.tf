# keyshift publishing its rotation events on a bus of their own, and two consumers of them:
# "Secret Rotated" invokes a Lambda that re-reads the rotated secret (a token cache, a config
# reloader), "Rotation Failed" notifies an SNS topic. Events carry identifiers only (secret
# ARN, version, workspace, execution), never a token; the consumer reads the new value from
# Secrets Manager itself.

provider "aws" {
  region = var.region
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  name       = "keyshift"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  # The secrets keyshift manages (the module's secret_name_prefix, default keyshift/).
  managed_secrets_arn = "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:keyshift/*"
}

resource "aws_cloudwatch_event_bus" "keyshift" {
  name = "${local.name}-rotation-events"
  tags = { project = "keyshift" }
}

module "keyshift" {
  source = "../../modules/keyshift"

  name         = local.name
  architecture = "arm64"

  fleet = {
    amg = {
      regions = [var.region]
      tags    = { keyshift = "managed" }
    }
  }
  amg_workspace_tags = { keyshift = "managed" }

  event_bus_name      = aws_cloudwatch_event_bus.keyshift.name
  alarm_sns_topic_arn = var.alarm_sns_topic_arn

  tags = { project = "keyshift" }
}

# "Secret Rotated": the consumer Lambda re-reads the secret named in the event's detail.secretArn.
resource "aws_cloudwatch_event_rule" "secret_rotated" {
  name           = "${local.name}-secret-rotated"
  description    = "keyshift promoted a new token: the consumer re-reads the secret"
  event_bus_name = aws_cloudwatch_event_bus.keyshift.name
  tags           = { project = "keyshift" }
  event_pattern = jsonencode({
    source      = ["keyshift"]
    detail-type = ["Secret Rotated"]
  })
}

resource "aws_cloudwatch_event_target" "secret_rotated" {
  rule           = aws_cloudwatch_event_rule.secret_rotated.name
  event_bus_name = aws_cloudwatch_event_bus.keyshift.name
  target_id      = "consumer"
  arn            = aws_lambda_function.consumer.arn

  retry_policy {
    maximum_retry_attempts       = 10
    maximum_event_age_in_seconds = 3600
  }
}

resource "aws_lambda_permission" "secret_rotated" {
  statement_id  = "AllowKeyshiftSecretRotated"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.consumer.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.secret_rotated.arn
}

# "Rotation Failed": the state machine's failure event, to whoever subscribes to the topic.
resource "aws_cloudwatch_event_rule" "rotation_failed" {
  name           = "${local.name}-rotation-failed"
  description    = "A keyshift rotation failed: notify the topic"
  event_bus_name = aws_cloudwatch_event_bus.keyshift.name
  tags           = { project = "keyshift" }
  event_pattern = jsonencode({
    source      = ["keyshift"]
    detail-type = ["Rotation Failed"]
  })
}

resource "aws_cloudwatch_event_target" "rotation_failed" {
  rule           = aws_cloudwatch_event_rule.rotation_failed.name
  event_bus_name = aws_cloudwatch_event_bus.keyshift.name
  target_id      = "sns"
  arn            = aws_sns_topic.rotation_failed.arn
}

resource "aws_sns_topic" "rotation_failed" {
  name              = "${local.name}-rotation-failed"
  kms_master_key_id = aws_kms_key.consumers.arn
  tags              = { project = "keyshift" }
}

data "aws_iam_policy_document" "rotation_failed_topic" {
  statement {
    sid       = "RotationFailedRulePublishes"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.rotation_failed.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.rotation_failed.arn]
    }
  }
}

resource "aws_sns_topic_policy" "rotation_failed" {
  arn    = aws_sns_topic.rotation_failed.arn
  policy = data.aws_iam_policy_document.rotation_failed_topic.json
}

# The consumers' own key: the failure topic (EventBridge encrypts what it publishes there) and
# the consumer's log group. keyshift's module keeps its key for its own resources.
resource "aws_kms_key" "consumers" {
  description             = "${local.name} event consumers: rotation-failed topic, consumer logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  tags                    = { project = "keyshift" }
}

data "aws_iam_policy_document" "consumers_key" {
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
    sid       = "RotationFailedRuleEncryptsForTheTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.rotation_failed.arn]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncryptsTheConsumerLogGroup"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${local.name}-consumer"]
    }
  }
}

resource "aws_kms_key_policy" "consumers" {
  key_id = aws_kms_key.consumers.id
  policy = data.aws_iam_policy_document.consumers_key.json
}

# The consumer: your code (var.consumer_zip_path); the event gives it the secret's ARN and
# version, its role lets it read keyshift's managed secrets and nothing else.
resource "aws_cloudwatch_log_group" "consumer" {
  name              = "/aws/lambda/${local.name}-consumer"
  retention_in_days = 365
  kms_key_id        = aws_kms_key.consumers.arn
  tags              = { project = "keyshift" }

  depends_on = [aws_kms_key_policy.consumers]
}

data "aws_iam_policy_document" "consumer_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "consumer" {
  name               = "${local.name}-consumer"
  description        = "keyshift event consumer: read the rotated secrets, write its logs"
  assume_role_policy = data.aws_iam_policy_document.consumer_assume.json
  tags               = { project = "keyshift" }
}

data "aws_iam_policy_document" "consumer" {
  statement {
    sid       = "ReadRotatedSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.managed_secrets_arn]
  }

  statement {
    sid       = "DecryptRotatedSecrets"
    actions   = ["kms:Decrypt"]
    resources = [module.keyshift.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.consumer.arn}:*"]
  }
}

resource "aws_iam_role_policy" "consumer" {
  name   = "${local.name}-consumer"
  role   = aws_iam_role.consumer.id
  policy = data.aws_iam_policy_document.consumer.json
}

resource "aws_lambda_function" "consumer" {
  #checkov:skip=CKV_AWS_116:EventBridge retries delivery (the target's retry_policy) and Lambda retries the async invocation; a consumer that missed an event still gets the new token on its next read of AWSCURRENT, well inside the grace period.
  #checkov:skip=CKV_AWS_117:The consumer reaches Secrets Manager over its public endpoint; put it in a VPC (with a Secrets Manager endpoint) if what it refreshes is private.
  #checkov:skip=CKV_AWS_272:The consumer's zip is built by you (var.consumer_zip_path); code signing needs a signing profile the example cannot assume.
  function_name                  = "${local.name}-consumer"
  description                    = "Re-reads a keyshift secret when its token was rotated"
  role                           = aws_iam_role.consumer.arn
  runtime                        = var.consumer_runtime
  handler                        = var.consumer_handler
  filename                       = var.consumer_zip_path
  source_code_hash               = filebase64sha256(var.consumer_zip_path)
  memory_size                    = 128
  timeout                        = 30
  reserved_concurrent_executions = 5
  tags                           = { project = "keyshift" }

  tracing_config {
    mode = "PassThrough"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.consumer.name
  }

  depends_on = [aws_iam_role_policy.consumer]
}
