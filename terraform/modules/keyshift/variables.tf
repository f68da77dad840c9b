variable "name" {
  description = "Prefix of every resource name (functions, roles, queues, state machine, schedule, alarms, dashboard)."
  type        = string
  default     = "keyshift"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9-]{0,39}$", var.name))
    error_message = "name must start with a letter and hold at most 40 letters, digits or hyphens."
  }
}

variable "tags" {
  description = "Tags applied to every resource that takes tags."
  type        = map(string)
  default     = {}
}

variable "lambda_zip_dir" {
  description = "Directory holding <function>.zip for every Lambda, as scripts/package.sh writes them. Null: the checkout's target/lambda-zips, where scripts/package.sh puts them, found from this module's own path."
  type        = string
  default     = null

  validation {
    condition     = var.lambda_zip_dir == null || trimspace(coalesce(var.lambda_zip_dir, "unset")) != ""
    error_message = "lambda_zip_dir must be a directory path, or null for the checkout's target/lambda-zips."
  }
}

variable "architecture" {
  description = "Instruction set the zips were built for (scripts/package.sh --arch)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "lambda_memory_mb" {
  description = "Memory of each Lambda function, MB."
  type        = number
  default     = 256

  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240
    error_message = "lambda_memory_mb must be between 128 and 10240."
  }
}

variable "lambda_timeout_seconds" {
  description = "Timeout of each step Lambda, seconds; the state machine gives each task 120 seconds, so keep it at or below that."
  type        = number
  default     = 110

  validation {
    condition     = var.lambda_timeout_seconds >= 10 && var.lambda_timeout_seconds <= 120
    error_message = "lambda_timeout_seconds must be between 10 and 120 (the state machine's task timeout)."
  }
}

variable "fleet_start_timeout_seconds" {
  description = "Timeout of fleet-start and dlq-replay, seconds: they list or drain a whole fleet."
  type        = number
  default     = 600

  validation {
    condition     = var.fleet_start_timeout_seconds >= 30 && var.fleet_start_timeout_seconds <= 900
    error_message = "fleet_start_timeout_seconds must be between 30 and 900."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions of each function; caps the load keyshift can put on Grafana and AWS."
  type        = number
  default     = 10

  validation {
    condition     = var.reserved_concurrency >= 1 && var.reserved_concurrency <= 1000
    error_message = "reserved_concurrency must be between 1 and 1000."
  }
}

variable "log_retention_days" {
  description = "Retention of the Lambda and state-machine log groups, days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653)."
  }
}

variable "kms_key_arn" {
  description = "ARN of an existing customer-managed KMS key for secrets, queues, logs, schedules and token sealing. Null: the module creates one (rotation on) whose policy names keyshift's roles. A key passed in must allow those roles itself (see the role outputs)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), not an alias."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the module's KMS key is deleted after destroy, days."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "secret_name_prefix" {
  description = "Name prefix of the secrets keyshift manages; the steps may only touch secrets under it. Must match the fixed start of the policy's secretNameTemplate (default keyshift/{workspace}/...)."
  type        = string
  default     = "keyshift/"

  validation {
    condition     = length(var.secret_name_prefix) >= 3 && !strcontains(var.secret_name_prefix, "*") && !strcontains(var.secret_name_prefix, "{")
    error_message = "secret_name_prefix must be at least 3 characters of fixed text (no * or { placeholders)."
  }
}

variable "amg_workspace_arns" {
  description = "AMG workspaces the steps may administer, as ARNs (arn:aws:grafana:<region>:<account>:/workspaces/<id>, * allowed). Empty: every workspace of this account, narrowed by amg_workspace_tags."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.amg_workspace_arns : can(regex("^arn:aws[a-z-]*:grafana:[a-z0-9*-]+:[0-9]{12}:/workspaces/[A-Za-z0-9*-]+$", arn))])
    error_message = "Each amg_workspace_arns entry must look like arn:aws:grafana:<region>:<account>:/workspaces/<id>."
  }
}

variable "amg_workspace_tags" {
  description = "Tags an AMG workspace must carry for the steps to administer it (IAM aws:ResourceTag conditions); use the same tags as fleet.amg.tags."
  type        = map(string)
  default     = {}
}

variable "fleet" {
  description = "The fleet config fleet-start receives on every schedule tick (see crates/core/src/fleet/config.rs). amg: tag-selected workspaces of this account; accounts: other accounts reached through keyshift-target-account roles; self_hosted: Grafana URLs with the ARN of their admin secret."
  type = object({
    amg = optional(object({
      regions      = list(string)
      tags         = optional(map(string), {})
      org_id       = optional(number, 1)
      secret_names = optional(map(string), {})
    }))
    accounts = optional(list(object({
      role_arn    = string
      external_id = optional(string)
      regions     = list(string)
      tags        = optional(map(string), {})
      org_id      = optional(number, 1)
    })), [])
    self_hosted = optional(list(object({
      url              = string
      admin_secret_arn = string
      org_id           = optional(number, 1)
      secret_name      = optional(string)
    })), [])
    max_concurrency = optional(number)
  })

  validation {
    condition     = var.fleet.amg != null || length(var.fleet.accounts) > 0 || length(var.fleet.self_hosted) > 0
    error_message = "fleet must select something: amg, accounts or self_hosted."
  }

  validation {
    condition     = alltrue([for account in var.fleet.accounts : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", account.role_arn))])
    error_message = "Each fleet.accounts role_arn must be an IAM role ARN."
  }

  validation {
    condition     = alltrue([for target in var.fleet.self_hosted : can(regex("^https?://", target.url)) && can(regex("^arn:aws[a-z-]*:secretsmanager:", target.admin_secret_arn))])
    error_message = "Each fleet.self_hosted entry needs an http(s) url and the Secrets Manager ARN of its admin secret."
  }

  validation {
    condition     = var.fleet.max_concurrency == null || try(var.fleet.max_concurrency >= 1 && var.fleet.max_concurrency <= 40, false)
    error_message = "fleet.max_concurrency must be between 1 and 40."
  }
}

variable "rotation_policy" {
  description = "keyshift's rotation policy. token_ttl_days: lifetime of minted tokens (AMG caps it at 30 days); grace_period_hours: how long the superseded token keeps working; rotate_before_days: rotate when the current token has less left; max_role: cap of service-account roles (Viewer, Editor, Admin); extra_json: further policy fields as JSON (camelCase, see the core Policy type)."
  type = object({
    token_ttl_days     = optional(number, 30)
    grace_period_hours = optional(number, 24)
    rotate_before_days = optional(number, 7)
    max_role           = optional(string)
    extra_json         = optional(string, "{}")
  })
  default = {}

  validation {
    condition     = var.rotation_policy.token_ttl_days >= 1 && var.rotation_policy.token_ttl_days <= 30
    error_message = "rotation_policy.token_ttl_days must be between 1 and 30 (AMG's limit)."
  }

  validation {
    condition     = var.rotation_policy.grace_period_hours >= 0 && var.rotation_policy.grace_period_hours < var.rotation_policy.token_ttl_days * 24
    error_message = "rotation_policy.grace_period_hours must be shorter than the token TTL, or old and new tokens would both expire unrotated."
  }

  validation {
    condition     = var.rotation_policy.rotate_before_days >= 0 && var.rotation_policy.rotate_before_days < var.rotation_policy.token_ttl_days
    error_message = "rotation_policy.rotate_before_days must be shorter than the token TTL."
  }

  validation {
    condition     = var.rotation_policy.max_role == null || contains(["Viewer", "Editor", "Admin"], coalesce(var.rotation_policy.max_role, "Viewer"))
    error_message = "rotation_policy.max_role must be Viewer, Editor or Admin."
  }

  validation {
    condition     = can(keys(jsondecode(var.rotation_policy.extra_json)))
    error_message = "rotation_policy.extra_json must be a JSON object."
  }
}

variable "amg_url_template" {
  description = "Grafana URL of AMG workspaces when not their public hostname (proxy, VPC endpoint), with a {workspace_id} placeholder. Null: the public URL."
  type        = string
  default     = null

  validation {
    condition     = var.amg_url_template == null || can(regex("^https?://.*\\{workspace_id\\}", var.amg_url_template))
    error_message = "amg_url_template must be an http(s) URL containing {workspace_id}."
  }
}

variable "grafana_timeout_seconds" {
  description = "Per-request timeout of the steps' Grafana HTTP calls, seconds. Null: the built-in default."
  type        = number
  default     = null

  validation {
    condition     = var.grafana_timeout_seconds == null || try(var.grafana_timeout_seconds >= 1 && var.grafana_timeout_seconds <= 60, false)
    error_message = "grafana_timeout_seconds must be between 1 and 60."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of keyshift's EMF metrics (DaysToExpiry, ExecutionSucceeded); change it when one account runs several deployments."
  type        = string
  default     = "Keyshift"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/#:-]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1-255 characters of letters, digits or . _ / # : - and not start with AWS/."
  }
}

variable "event_bus_name" {
  description = "EventBridge bus (name or ARN) keyshift publishes its rotation events on: store-secret and rotate-secret send source \"keyshift\", detail type \"Secret Rotated\" each time a secret's AWSCURRENT moves, and the state machine sends \"Rotation Failed\" when an execution fails. Consumers subscribe with rules on this bus matching source [\"keyshift\"] and those detail types, then re-read the secret: an event carries identifiers only (secret ARN, version, workspace, execution), never a token. Null (default): no events are published and no events:PutEvents is granted."
  type        = string
  default     = null

  validation {
    condition     = var.event_bus_name == null || can(regex("^[A-Za-z0-9._/-]{1,256}$", var.event_bus_name)) || can(regex("^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._/-]{1,256}$", var.event_bus_name))
    error_message = "event_bus_name must be null, an event bus name (1-256 letters, digits or . _ - /) or an event bus ARN (arn:aws:events:<region>:<account>:event-bus/<name>)."
  }
}

variable "schedule_expression" {
  description = "When fleet-start runs: an EventBridge Scheduler rate() or cron() expression. Keep it well inside rotate_before_days."
  type        = string
  default     = "rate(1 day)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.schedule_expression))
    error_message = "schedule_expression must be rate(...) or cron(...)."
  }
}

variable "schedule_timezone" {
  description = "IANA time zone of a cron() schedule_expression."
  type        = string
  default     = "UTC"
}

variable "schedule_flexible_window_minutes" {
  description = "Flexible time window of the schedule, minutes; 0 runs it exactly on time."
  type        = number
  default     = 15

  validation {
    condition     = var.schedule_flexible_window_minutes >= 0 && var.schedule_flexible_window_minutes <= 1440
    error_message = "schedule_flexible_window_minutes must be between 0 and 1440."
  }
}

variable "schedule_retry_attempts" {
  description = "Retries of a failed fleet-start invocation by EventBridge Scheduler before it goes to the schedule's DLQ."
  type        = number
  default     = 3

  validation {
    condition     = var.schedule_retry_attempts >= 0 && var.schedule_retry_attempts <= 185
    error_message = "schedule_retry_attempts must be between 0 and 185."
  }
}

variable "schedule_max_event_age_seconds" {
  description = "How long EventBridge Scheduler keeps retrying one tick, seconds."
  type        = number
  default     = 3600

  validation {
    condition     = var.schedule_max_event_age_seconds >= 60 && var.schedule_max_event_age_seconds <= 86400
    error_message = "schedule_max_event_age_seconds must be between 60 and 86400."
  }
}

variable "schedule_enabled" {
  description = "Whether the fleet-start schedule is enabled; disable it to run ticks by hand only."
  type        = bool
  default     = true
}

variable "dlq_replay_schedule_expression" {
  description = "Optional schedule of dlq-replay (rate() or cron()). Null: replay only by hand (keyshift dlq replay or invoking dlq-replay), usually after fixing the cause."
  type        = string
  default     = null

  validation {
    condition     = var.dlq_replay_schedule_expression == null || can(regex("^(rate|cron)\\(.+\\)$", coalesce(var.dlq_replay_schedule_expression, "rate(1 day)")))
    error_message = "dlq_replay_schedule_expression must be rate(...) or cron(...)."
  }
}

variable "dlq_max_receive_count" {
  description = "Receives after which a DLQ message moves to the parking queue (the DLQ's redrive policy)."
  type        = number
  default     = 10

  validation {
    condition     = var.dlq_max_receive_count >= 2 && var.dlq_max_receive_count <= 1000
    error_message = "dlq_max_receive_count must be between 2 and 1000."
  }
}

variable "replay_max_receives" {
  description = "Receives after which dlq-replay leaves a message for the redrive policy; must be below dlq_max_receive_count."
  type        = number
  default     = 5

  validation {
    condition     = var.replay_max_receives >= 1
    error_message = "replay_max_receives must be at least 1."
  }
}

variable "xray_tracing" {
  description = "Whether the state machine sends X-Ray traces."
  type        = bool
  default     = false
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic the alarms notify (alarm and OK). Null: alarms without actions, visible in the console only."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:.+$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be an SNS topic ARN."
  }
}

variable "no_success_alarm_days" {
  description = "Alarm when no execution succeeded for this many days (missing data counts as failure). Set it to the schedule period plus a margin."
  type        = number
  default     = 2

  validation {
    condition     = var.no_success_alarm_days >= 1 && var.no_success_alarm_days <= 7
    error_message = "no_success_alarm_days must be between 1 and 7 (CloudWatch evaluates at most 7 daily periods)."
  }
}

variable "days_to_expiry_alarm_threshold" {
  description = "Alarm when a freshly promoted token has fewer days to live than this."
  type        = number
  default     = 3

  validation {
    condition     = var.days_to_expiry_alarm_threshold > 0 && var.days_to_expiry_alarm_threshold < 30
    error_message = "days_to_expiry_alarm_threshold must be between 0 and 30 days."
  }
}

variable "native_rotation" {
  description = "Optional: let Secrets Manager rotate these keyshift-managed secrets itself with the rotate-secret Lambda (createSecret/setSecret/testSecret/finishSecret), on schedule_expression (rate() or cron(), e.g. \"rate(25 days)\"). Each secret must hold keyshift's managed format (keyshift secret create, or a migration). Null (default): no secret is attached; rotation runs only through the state machine."
  type = object({
    secret_arns         = list(string)
    schedule_expression = string
  })
  default = null

  validation {
    condition     = var.native_rotation == null || length(try(var.native_rotation.secret_arns, [])) > 0
    error_message = "native_rotation.secret_arns must name at least one secret (or set native_rotation = null)."
  }

  validation {
    condition     = var.native_rotation == null || alltrue([for arn in try(var.native_rotation.secret_arns, []) : can(regex("^arn:[a-z-]+:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", arn))])
    error_message = "native_rotation.secret_arns must be Secrets Manager secret ARNs."
  }

  validation {
    condition     = var.native_rotation == null || can(regex("^(rate|cron)\\(.+\\)$", try(var.native_rotation.schedule_expression, "")))
    error_message = "native_rotation.schedule_expression must be rate(...) or cron(...)."
  }
}
