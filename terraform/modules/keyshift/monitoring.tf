locals {
  alarm_actions = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]

  # keyshift's own EMF metrics (crates/core/src/ports/metrics.rs): DaysToExpiry with
  # dimensions Workspace and SecretName, ExecutionSucceeded with dimension Workspace.
  days_to_expiry_query      = "SELECT MIN(DaysToExpiry) FROM SCHEMA(\"${var.metrics_namespace}\", SecretName, Workspace)"
  execution_succeeded_query = "SELECT SUM(ExecutionSucceeded) FROM SCHEMA(\"${var.metrics_namespace}\", Workspace)"
  monitored_queues = {
    dlq          = aws_sqs_queue.dlq.name
    parking      = aws_sqs_queue.parking.name
    schedule-dlq = aws_sqs_queue.schedule_dlq.name
  }

  # Every alarm keyshift defines (the dashboard's alarm widget, output alarm_arns).
  alarm_arns = concat(
    [for alarm in aws_cloudwatch_metric_alarm.queue_not_empty : alarm.arn],
    [
      aws_cloudwatch_metric_alarm.executions_failed.arn,
      aws_cloudwatch_metric_alarm.no_successful_rotation.arn,
      aws_cloudwatch_metric_alarm.days_to_expiry.arn,
    ],
  )
}

resource "aws_cloudwatch_metric_alarm" "queue_not_empty" {
  for_each = local.monitored_queues

  alarm_name          = "${var.name}-${each.key}-not-empty"
  alarm_description   = "keyshift: messages in ${each.value}; a rotation or schedule tick failed (replay with keyshift dlq replay once the cause is fixed)"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "executions_failed" {
  alarm_name          = "${var.name}-executions-failed"
  alarm_description   = "keyshift: a rotate-workspace execution failed, timed out or was aborted"
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "unsuccessful"
    expression  = "FILL(failed, 0) + FILL(timedout, 0) + FILL(aborted, 0)"
    label       = "Executions failed, timed out or aborted"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = { failed = "ExecutionsFailed", timedout = "ExecutionsTimedOut", aborted = "ExecutionsAborted" }
    content {
      id = metric_query.key
      metric {
        namespace   = "AWS/States"
        metric_name = metric_query.value
        dimensions  = { StateMachineArn = aws_sfn_state_machine.rotate.arn }
        stat        = "Sum"
        period      = 300
      }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "no_successful_rotation" {
  alarm_name          = "${var.name}-no-successful-rotation"
  alarm_description   = "keyshift: no execution succeeded for ${var.no_success_alarm_days} day(s); schedule, fleet-start or every rotation is failing"
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  evaluation_periods  = var.no_success_alarm_days
  datapoints_to_alarm = var.no_success_alarm_days
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "succeeded"
    expression  = local.execution_succeeded_query
    period      = 86400
    label       = "Executions succeeded"
    return_data = true
  }
}

resource "aws_cloudwatch_metric_alarm" "days_to_expiry" {
  alarm_name          = "${var.name}-token-expiring"
  alarm_description   = "keyshift: a freshly promoted token has fewer than ${var.days_to_expiry_alarm_threshold} days to live (TTL too short or rotation late)"
  comparison_operator = "LessThanThreshold"
  threshold           = var.days_to_expiry_alarm_threshold
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "days"
    expression  = local.days_to_expiry_query
    period      = 3600
    label       = "Days to expiry (lowest)"
    return_data = true
  }
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "alarm", x = 0, y = 0, width = 24, height = 3
        properties = {
          title  = "keyshift alarms"
          alarms = local.alarm_arns
        }
      },
      {
        type = "metric", x = 0, y = 3, width = 12, height = 6
        properties = {
          title   = "Days to expiry per secret"
          region  = local.region
          view    = "timeSeries"
          period  = 3600
          metrics = [[{ expression = "SELECT MIN(DaysToExpiry) FROM SCHEMA(\"${var.metrics_namespace}\", SecretName, Workspace) GROUP BY SecretName", id = "days", label = "" }]]
          annotations = {
            horizontal = [{ label = "alarm", value = var.days_to_expiry_alarm_threshold }]
          }
        }
      },
      {
        type = "metric", x = 12, y = 3, width = 12, height = 6
        properties = {
          title  = "Rotations succeeded and failed"
          region = local.region
          view   = "timeSeries"
          stat   = "Sum"
          period = 3600
          metrics = [
            ["AWS/States", "ExecutionsSucceeded", "StateMachineArn", aws_sfn_state_machine.rotate.arn],
            ["AWS/States", "ExecutionsFailed", "StateMachineArn", aws_sfn_state_machine.rotate.arn],
            ["AWS/States", "ExecutionsTimedOut", "StateMachineArn", aws_sfn_state_machine.rotate.arn],
            ["AWS/States", "ExecutionsAborted", "StateMachineArn", aws_sfn_state_machine.rotate.arn],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 9, width = 12, height = 6
        properties = {
          title  = "Dead-letter queue depth"
          region = local.region
          view   = "timeSeries"
          stat   = "Maximum"
          period = 300
          metrics = [for queue in values(local.monitored_queues) :
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue]
          ]
        }
      },
      {
        type = "metric", x = 12, y = 9, width = 12, height = 6
        properties = {
          title  = "Execution duration (ms, grace period included)"
          region = local.region
          view   = "timeSeries"
          period = 3600
          metrics = [
            ["AWS/States", "ExecutionTime", "StateMachineArn", aws_sfn_state_machine.rotate.arn, { stat = "Average" }],
            ["AWS/States", "ExecutionTime", "StateMachineArn", aws_sfn_state_machine.rotate.arn, { stat = "Maximum" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 15, width = 24, height = 6
        properties = {
          title  = "Lambda errors per function"
          region = local.region
          view   = "timeSeries"
          stat   = "Sum"
          period = 300
          metrics = [for function in local.functions :
            ["AWS/Lambda", "Errors", "FunctionName", aws_lambda_function.this[function].function_name]
          ]
        }
      },
    ]
  })
}
