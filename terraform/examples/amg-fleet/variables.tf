variable "region" {
  description = "Region keyshift itself runs in."
  type        = string
  default     = "eu-west-1"
}

variable "lambda_zip_dir" {
  description = "Where scripts/package.sh put the zips."
  type        = string
  default     = "../../../target/lambda-zips"
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic for the alarms."
  type        = string
  default     = null
}
