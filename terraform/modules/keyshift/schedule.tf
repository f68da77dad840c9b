# EventBridge Scheduler starts fleet-start with the fleet config; a tick that still fails
# after the retries lands in the schedule's own DLQ (alarmed like the main one).

resource "aws_sqs_queue" "schedule_dlq" {
  name                      = "${var.name}-schedule-dlq"
  message_retention_seconds = 1209600
  kms_master_key_id         = local.kms_key_arn
  tags                      = var.tags
}

# The scheduler's role (aws_iam_role.service in iam.tf): invoke the scheduled functions,
# dead-letter undeliverable ticks.
locals {
  scheduler_statements = [
    { sid = "InvokeScheduledFunctions", actions = ["lambda:InvokeFunction"], resources = [aws_lambda_function.this["fleet-start"].arn, aws_lambda_function.this["dlq-replay"].arn] },
    { sid = "DeadLetterTicks", actions = ["sqs:SendMessage"], resources = [aws_sqs_queue.schedule_dlq.arn] },
    { sid = "UseTheKey", actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = [local.kms_key_arn] },
  ]
}

resource "aws_scheduler_schedule_group" "this" {
  name = var.name
  tags = var.tags
}

# fleet-start on schedule_expression with the fleet config; dlq-replay only when
# dlq_replay_schedule_expression is set. Both dead-letter undeliverable ticks alike.
locals {
  schedules = merge(
    {
      "fleet-start" = {
        description = "keyshift: start one rotation per managed Grafana"
        expression  = var.schedule_expression
        state       = var.schedule_enabled ? "ENABLED" : "DISABLED"
        window      = var.schedule_flexible_window_minutes
        # The fleet config plus the tick's scheduled time, so a retried tick names the same
        # executions (FleetStartEvent in crates/core/src/fleet/start.rs).
        input = jsonencode(merge(local.fleet_config, { time = "<aws.scheduler.scheduled-time>" }))
      }
    },
    var.dlq_replay_schedule_expression == null ? {} : {
      "dlq-replay" = {
        description = "keyshift: replay what reached the DLQ"
        expression  = var.dlq_replay_schedule_expression
        state       = null
        window      = 0
        input       = jsonencode({})
      }
    },
  )

  fleet_start_schedule = aws_scheduler_schedule.this["fleet-start"]
}

resource "aws_scheduler_schedule" "this" {
  for_each = local.schedules

  name                         = "${var.name}-${each.key}"
  description                  = each.value.description
  group_name                   = aws_scheduler_schedule_group.this.name
  schedule_expression          = each.value.expression
  schedule_expression_timezone = var.schedule_timezone
  state                        = each.value.state
  kms_key_arn                  = local.kms_key_arn

  flexible_time_window {
    mode                      = each.value.window > 0 ? "FLEXIBLE" : "OFF"
    maximum_window_in_minutes = each.value.window > 0 ? each.value.window : null
  }

  target {
    arn      = aws_lambda_function.this[each.key].arn
    role_arn = aws_iam_role.service["scheduler"].arn
    input    = each.value.input

    retry_policy {
      maximum_retry_attempts       = var.schedule_retry_attempts
      maximum_event_age_in_seconds = var.schedule_max_event_age_seconds
    }

    dead_letter_config {
      arn = aws_sqs_queue.schedule_dlq.arn
    }
  }

  depends_on = [aws_iam_role_policy.service]
}
