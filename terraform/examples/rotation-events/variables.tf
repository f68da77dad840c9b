variable "region" {
  description = "Region keyshift, its event bus and the consumers run in."
  type        = string
  default     = "eu-west-1"
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic for keyshift's alarms."
  type        = string
  default     = null
}

variable "consumer_zip_path" {
  description = "Zip of the consumer Lambda invoked on every \"Secret Rotated\" event (its event's detail holds secretArn and versionId; it reads the new token from Secrets Manager)."
  type        = string
}

variable "consumer_runtime" {
  description = "Lambda runtime of the consumer's zip."
  type        = string
  default     = "python3.12"
}

variable "consumer_handler" {
  description = "Handler of the consumer's zip."
  type        = string
  default     = "consumer.handler"
}
