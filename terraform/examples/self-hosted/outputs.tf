output "state_machine_arn" {
  description = "The rotation state machine."
  value       = module.keyshift.state_machine_arn
}

output "dashboard_name" {
  description = "The CloudWatch dashboard to open first."
  value       = module.keyshift.dashboard_name
}
