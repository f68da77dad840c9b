data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  # The six steps the state machine invokes, then the two functions that start and replay
  # executions, then the Lambda Secrets Manager's own rotation invokes (native_rotation).
  # Each is one crate under crates/ and one zip in lambda_zip_dir.
  step_functions     = ["discover-keys", "create-sa", "mint-token", "store-secret", "verify", "revoke-old"]
  driver_functions   = ["fleet-start", "dlq-replay"]
  rotation_functions = ["rotate-secret"]
  functions          = concat(local.step_functions, local.driver_functions, local.rotation_functions)

  # Secrets Secrets Manager rotates with rotate-secret (empty when native_rotation is off).
  native_rotation_secret_arns = var.native_rotation == null ? [] : var.native_rotation.secret_arns

  create_kms_key = var.kms_key_arn == null
  kms_key_arn    = local.create_kms_key ? aws_kms_key.this[0].arn : var.kms_key_arn

  # Known before the state machine exists, so functions and policies can name it without a
  # dependency cycle (the state machine's definition names the functions).
  state_machine_name    = "${var.name}-rotate-workspace"
  state_machine_arn     = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.state_machine_name}"
  execution_arn_pattern = "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.state_machine_name}:*"

  secret_arn_pattern = "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${var.secret_name_prefix}*"
  admin_secret_arns  = distinct([for target in var.fleet.self_hosted : target.admin_secret_arn])
  amg_workspace_arns = length(var.amg_workspace_arns) > 0 ? var.amg_workspace_arns : ["arn:${local.partition}:grafana:*:${local.account_id}:/workspaces/*"]
  target_role_arns   = distinct([for account in var.fleet.accounts : account.role_arn])

  # Rotation events (var.event_bus_name): the bus as an ARN for the IAM statements (an ARN
  # given is used as is, a name is a bus of this account and region), null when events are
  # off. Only the functions that promote publish, and the state machine its failure event.
  event_bus_arn = var.event_bus_name == null ? null : (
    startswith(var.event_bus_name, "arn:") ? var.event_bus_name : "arn:${local.partition}:events:${local.region}:${local.account_id}:event-bus/${var.event_bus_name}"
  )
  event_bus_arns    = local.event_bus_arn == null ? [] : [local.event_bus_arn]
  event_functions   = ["store-secret", "rotate-secret"]
  event_environment = var.event_bus_name == null ? {} : { KEYSHIFT_EVENT_BUS_NAME = var.event_bus_name }
  # PutEvents only with keyshift's own source (EVENT_SOURCE in crates/core/src/ports/events.rs).
  event_source_conditions = [{
    test     = "StringEquals"
    variable = "events:source"
    values   = ["keyshift"]
  }]

  rotation_policy = merge(
    jsondecode(var.rotation_policy.extra_json),
    {
      tokenTtl     = "${var.rotation_policy.token_ttl_days}d"
      gracePeriod  = "${var.rotation_policy.grace_period_hours}h"
      rotateBefore = "${var.rotation_policy.rotate_before_days}d"
    },
    var.rotation_policy.max_role == null ? {} : { roles = { maxRole = var.rotation_policy.max_role } },
  )

  # The fleet config in the JSON spelling fleet-start reads (crates/core/src/fleet/config.rs).
  fleet_config = merge(
    var.fleet.amg == null ? {} : {
      amg = {
        regions     = var.fleet.amg.regions
        tags        = var.fleet.amg.tags
        orgId       = var.fleet.amg.org_id
        secretNames = var.fleet.amg.secret_names
      }
    },
    {
      accounts = [for account in var.fleet.accounts : merge(
        {
          roleArn = account.role_arn
          regions = account.regions
          tags    = account.tags
          orgId   = account.org_id
        },
        account.external_id == null ? {} : { externalId = account.external_id },
      )]
      selfHosted = [for target in var.fleet.self_hosted : merge(
        {
          url           = target.url
          adminSecretId = target.admin_secret_arn
          orgId         = target.org_id
        },
        target.secret_name == null ? {} : { secretName = target.secret_name },
      )]
      policy = local.rotation_policy
    },
    var.fleet.max_concurrency == null ? {} : { maxConcurrency = var.fleet.max_concurrency },
  )
}
