output "event_bus_arn" {
  description = "The bus keyshift publishes \"Secret Rotated\" and \"Rotation Failed\" on (source keyshift); add your own rules to it."
  value       = module.keyshift.event_bus_arn
}

output "secret_rotated_rule_arn" {
  description = "The rule invoking the consumer on every promotion."
  value       = aws_cloudwatch_event_rule.secret_rotated.arn
}

output "consumer_function_name" {
  description = "The consumer Lambda; its logs show each event it handled."
  value       = aws_lambda_function.consumer.function_name
}

output "rotation_failed_topic_arn" {
  description = "Subscribe to it (email, chat, paging) to hear of failed rotations."
  value       = aws_sns_topic.rotation_failed.arn
}

output "state_machine_arn" {
  description = "The rotation state machine."
  value       = module.keyshift.state_machine_arn
}
