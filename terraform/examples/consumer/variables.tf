variable "region" {
  description = "Region of the secret."
  type        = string
  default     = "eu-west-1"
}

variable "secret_name" {
  description = "Name of the keyshift-managed secret (policy secretNameTemplate, default keyshift/{workspace}/{org_id}/{service_account}/token)."
  type        = string
}
