output "state_machine_arn" {
  description = "ARN of the rotate-workspace state machine (keyshift fleet start --state-machine-arn, dlq-replay)."
  value       = aws_sfn_state_machine.rotate.arn
}

output "function_arns" {
  description = "ARN of every Lambda function, by function name (discover-keys ... dlq-replay)."
  value       = { for name, function in aws_lambda_function.this : name => function.arn }
}

output "function_names" {
  description = "Deployed name of every Lambda function, for aws lambda invoke."
  value       = { for name, function in aws_lambda_function.this : name => function.function_name }
}

output "function_role_arns" {
  description = "Execution role of every function; a kms_key_arn passed in must allow them (kms:Encrypt, kms:Decrypt, kms:GenerateDataKey), and target-account roles must trust target_account_trusted_role_arns."
  value       = { for name, role in aws_iam_role.function : name => role.arn }
}

output "target_account_trusted_role_arns" {
  description = "The roles that assume keyshift-target-account's role in another account: fleet-start (to list its workspaces) and discover-keys and revoke-old (to administer them). Pass it as that module's trusted_role_arns."
  value       = [for name in ["fleet-start", "discover-keys", "revoke-old"] : aws_iam_role.function[name].arn]
}

output "target_account_workspace_actions" {
  description = "The grafana:* actions discover-keys and revoke-old call on a managed workspace. Pass it as keyshift-target-account's workspace_actions."
  value       = local.amg_administer_actions
}

output "fleet_start_role_arn" {
  description = "Role fleet-start runs as: the principal keyshift-target-account trusts."
  value       = aws_iam_role.function["fleet-start"].arn
}

output "state_machine_role_arn" {
  description = "Role the state machine runs as."
  value       = aws_iam_role.service["state-machine"].arn
}

output "scheduler_role_arn" {
  description = "Role EventBridge Scheduler invokes fleet-start with."
  value       = aws_iam_role.service["scheduler"].arn
}

output "kms_key_arn" {
  description = "The KMS key of secrets, queues, logs and sealed tokens (created or passed in)."
  value       = local.kms_key_arn
}

output "dlq_url" {
  description = "URL of the dead-letter queue (keyshift dlq replay --queue-url)."
  value       = aws_sqs_queue.dlq.url
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

output "parking_queue_arn" {
  description = "ARN of the queue messages move to after dlq_max_receive_count receives."
  value       = aws_sqs_queue.parking.arn
}

output "schedule_dlq_arn" {
  description = "ARN of the schedule's own DLQ (ticks EventBridge Scheduler could not deliver)."
  value       = aws_sqs_queue.schedule_dlq.arn
}

output "schedule_arn" {
  description = "ARN of the fleet-start schedule."
  value       = local.fleet_start_schedule.arn
}

output "execution_failed_rule_arn" {
  description = "ARN of the EventBridge rule sending failed executions to the DLQ."
  value       = aws_cloudwatch_event_rule.execution_failed.arn
}

output "log_group_names" {
  description = "Log group of every function and of the state machine."
  value       = { for name, group in aws_cloudwatch_log_group.this : name => group.name }
}

output "alarm_arns" {
  description = "Every alarm keyshift defines."
  value       = local.alarm_arns
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "fleet_config" {
  description = "The fleet config JSON fleet-start receives (for keyshift fleet start --config)."
  value       = jsonencode(local.fleet_config)
}

output "event_bus_arn" {
  description = "ARN of the EventBridge bus keyshift publishes its rotation events on (source keyshift, detail types \"Secret Rotated\" and \"Rotation Failed\"); null when event_bus_name is null."
  value       = local.event_bus_arn
}
