variable "region" {
  description = "Region keyshift itself runs in."
  type        = string
  default     = "eu-west-1"
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic for the alarms."
  type        = string
  default     = null
}
