output "target_role_arn" {
  description = "The role fleet-start assumes in the workload account."
  value       = module.target.role_arn
}

output "state_machine_arn" {
  description = "The rotation state machine."
  value       = module.keyshift.state_machine_arn
}
