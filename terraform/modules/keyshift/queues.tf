# The DLQ receives the state machine's failure messages, fleet-start's failed starts and the
# EventBridge status-change events of failed executions; dlq-replay drains it. A message
# received dlq_max_receive_count times moves to the parking queue for a person to look at.

resource "aws_sqs_queue" "parking" {
  name                      = "${var.name}-dlq-parking"
  message_retention_seconds = 1209600
  kms_master_key_id         = local.kms_key_arn
  tags                      = var.tags
}

resource "aws_sqs_queue" "dlq" {
  name                       = "${var.name}-dlq"
  message_retention_seconds  = 1209600
  visibility_timeout_seconds = 300
  kms_master_key_id          = local.kms_key_arn
  tags                       = var.tags

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.parking.arn
    maxReceiveCount     = var.dlq_max_receive_count
  })

  lifecycle {
    precondition {
      condition     = var.replay_max_receives < var.dlq_max_receive_count
      error_message = "replay_max_receives must be below dlq_max_receive_count, or the redrive policy parks messages dlq-replay still wants to retry."
    }
  }
}

resource "aws_sqs_queue_redrive_allow_policy" "parking" {
  queue_url = aws_sqs_queue.parking.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.dlq.arn]
  })
}

data "aws_iam_policy_document" "dlq" {
  # The state machine and the failed-execution rule may each send, from their own ARN only.
  dynamic "statement" {
    for_each = [
      { sid = "StateMachineSendsFailures", service = "states.amazonaws.com", source_arn = local.state_machine_arn },
      { sid = "EventBridgeSendsFailedExecutions", service = "events.amazonaws.com", source_arn = aws_cloudwatch_event_rule.execution_failed.arn },
    ]
    content {
      sid       = statement.value.sid
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.dlq.arn]
      principals {
        type        = "Service"
        identifiers = [statement.value.service]
      }
      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [statement.value.source_arn]
      }
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.dlq.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy    = data.aws_iam_policy_document.dlq.json
}

resource "aws_cloudwatch_event_rule" "execution_failed" {
  name        = "${var.name}-execution-failed"
  description = "keyshift executions that failed, timed out or were aborted, into the DLQ"
  tags        = var.tags
  event_pattern = jsonencode({
    source      = ["aws.states"]
    detail-type = ["Step Functions Execution Status Change"]
    detail = {
      status          = ["FAILED", "TIMED_OUT", "ABORTED"]
      stateMachineArn = [local.state_machine_arn]
    }
  })
}

resource "aws_cloudwatch_event_target" "execution_failed" {
  rule      = aws_cloudwatch_event_rule.execution_failed.name
  target_id = "dlq"
  arn       = aws_sqs_queue.dlq.arn
}
