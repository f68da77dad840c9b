variable "name" {
  description = "Name of the role created in this (target) account."
  type        = string
  default     = "keyshift"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.name))
    error_message = "name must be a valid IAM role name (1-64 characters)."
  }
}

variable "trusted_role_arns" {
  description = "Roles in the keyshift account allowed to assume this one: the keyshift module's target_account_trusted_role_arns."
  type        = list(string)

  validation {
    condition     = length(var.trusted_role_arns) > 0 && alltrue([for arn in var.trusted_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", arn))])
    error_message = "trusted_role_arns must list at least one IAM role ARN."
  }
}

variable "workspace_actions" {
  description = "The grafana:* actions keyshift calls on a managed workspace: the keyshift module's target_account_workspace_actions."
  type        = list(string)

  validation {
    condition     = length(var.workspace_actions) > 0 && alltrue([for action in var.workspace_actions : startswith(action, "grafana:") && !strcontains(action, "*")])
    error_message = "workspace_actions must list grafana: actions, without wildcards."
  }
}

variable "external_id" {
  description = "External id the assuming role must present (the fleet config's accounts[].externalId). Null: none required."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.external_id == null || can(regex("^[A-Za-z0-9+=,.@:/-]{2,1224}$", var.external_id))
    error_message = "external_id must be 2-1224 characters of letters, digits or +=,.@:/-."
  }
}

variable "max_session_duration_seconds" {
  description = "Longest session of the assumed role, seconds."
  type        = number
  default     = 3600

  validation {
    condition     = var.max_session_duration_seconds >= 3600 && var.max_session_duration_seconds <= 43200
    error_message = "max_session_duration_seconds must be between 3600 and 43200."
  }
}

variable "tags" {
  description = "Tags of the role."
  type        = map(string)
  default     = {}
}

variable "workspace_tags" {
  description = "Tags an AMG workspace of this account must carry for keyshift to administer it (the fleet config's accounts[].tags); empty: every workspace of the account."
  type        = map(string)
  default     = {}
}
