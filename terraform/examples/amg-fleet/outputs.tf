output "state_machine_arn" {
  description = "The rotation state machine."
  value       = module.keyshift.state_machine_arn
}

output "fleet_start_function" {
  description = "Invoke it for a first run: aws lambda invoke --function-name <this> ..."
  value       = module.keyshift.function_names["fleet-start"]
}

output "dlq_url" {
  description = "The dead-letter queue (keyshift dlq replay)."
  value       = module.keyshift.dlq_url
}

output "fleet_config" {
  description = "The fleet config the schedule sends; the payload of a first run by hand."
  value       = module.keyshift.fleet_config
}
