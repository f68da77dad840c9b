variable "region" {
  description = "Region keyshift runs in."
  type        = string
  default     = "eu-west-1"
}

variable "grafana_url" {
  description = "Base URL of the Grafana, without /api."
  type        = string
  default     = "https://grafana.example.com"
}

variable "admin_secret_arn" {
  description = "ARN of the Secrets Manager secret with the Grafana admin credential."
  type        = string
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic for the alarms."
  type        = string
  default     = null
}

variable "natively_rotated_secret_arns" {
  description = "ARNs of keyshift-managed secrets Secrets Manager rotates itself with the rotate-secret Lambda (empty: none)."
  type        = list(string)
  default     = []
}
