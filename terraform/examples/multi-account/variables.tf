variable "region" {
  description = "Region of keyshift and of the workspaces."
  type        = string
  default     = "eu-west-1"
}

variable "workload_account_id" {
  description = "The account whose AMG workspaces keyshift also manages."
  type        = string
}

variable "workload_admin_role_arn" {
  description = "Role Terraform assumes to create the target role in the workload account."
  type        = string
}

variable "external_id" {
  description = "External id the target role requires of fleet-start."
  type        = string
  default     = "keyshift-prod"
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic for the alarms."
  type        = string
  default     = null
}
