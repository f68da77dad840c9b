# EventBridge Scheduler starts fleet-start with the fleet config; a tick that still fails
# after the retries lands in the schedule's own DLQ (alarmed like the main one).

resource "aws_sqs_queue" "schedule_dlq" {
  name                      = "${var.name}-schedule-dlq"
  message_retention_seconds = 1209600
  kms_master_key_id         = local.kms_key_arn
  tags                      = var.tags
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name}-scheduler"
  description        = "keyshift schedules: invoke fleet-start (and dlq-replay), dead-letter undeliverable ticks"
  assume_role_policy = data.aws_iam_policy_document.assume["scheduler"].json
  tags               = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "InvokeScheduledFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.this["fleet-start"].arn, aws_lambda_function.this["dlq-replay"].arn]
  }

  statement {
    sid       = "DeadLetterTicks"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.schedule_dlq.arn]
  }

  statement {
    sid       = "UseTheKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [local.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "${var.name}-scheduler"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

resource "aws_scheduler_schedule_group" "this" {
  name = var.name
  tags = var.tags
}

resource "aws_scheduler_schedule" "fleet_start" {
  name                         = "${var.name}-fleet-start"
  description                  = "keyshift: start one rotation per managed Grafana"
  group_name                   = aws_scheduler_schedule_group.this.name
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = var.schedule_timezone
  state                        = var.schedule_enabled ? "ENABLED" : "DISABLED"
  kms_key_arn                  = local.kms_key_arn

  flexible_time_window {
    mode                      = var.schedule_flexible_window_minutes > 0 ? "FLEXIBLE" : "OFF"
    maximum_window_in_minutes = var.schedule_flexible_window_minutes > 0 ? var.schedule_flexible_window_minutes : null
  }

  target {
    arn      = aws_lambda_function.this["fleet-start"].arn
    role_arn = aws_iam_role.scheduler.arn
    # The fleet config plus the tick's scheduled time, so a retried tick names the same
    # executions (FleetStartEvent in crates/core/src/fleet/start.rs).
    input = jsonencode(merge(local.fleet_config, { time = "<aws.scheduler.scheduled-time>" }))

    retry_policy {
      maximum_retry_attempts       = var.schedule_retry_attempts
      maximum_event_age_in_seconds = var.schedule_max_event_age_seconds
    }

    dead_letter_config {
      arn = aws_sqs_queue.schedule_dlq.arn
    }
  }

  depends_on = [aws_iam_role_policy.scheduler]
}

resource "aws_scheduler_schedule" "dlq_replay" {
  count = var.dlq_replay_schedule_expression == null ? 0 : 1

  name                         = "${var.name}-dlq-replay"
  description                  = "keyshift: replay what reached the DLQ"
  group_name                   = aws_scheduler_schedule_group.this.name
  schedule_expression          = var.dlq_replay_schedule_expression
  schedule_expression_timezone = var.schedule_timezone
  kms_key_arn                  = local.kms_key_arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.this["dlq-replay"].arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({})

    retry_policy {
      maximum_retry_attempts       = var.schedule_retry_attempts
      maximum_event_age_in_seconds = var.schedule_max_event_age_seconds
    }

    dead_letter_config {
      arn = aws_sqs_queue.schedule_dlq.arn
    }
  }

  depends_on = [aws_iam_role_policy.scheduler]
}
