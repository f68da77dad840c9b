locals {
  # scripts/package.sh writes the zips to target/lambda-zips of the checkout this module is in.
  lambda_zip_dir = coalesce(var.lambda_zip_dir, "${path.module}/../../../target/lambda-zips")

  step_environment = merge(
    {
      KEYSHIFT_KMS_KEY_ID        = local.kms_key_arn
      KEYSHIFT_METRICS_NAMESPACE = var.metrics_namespace
    },
    var.amg_url_template == null ? {} : { KEYSHIFT_AMG_URL_TEMPLATE = var.amg_url_template },
    var.grafana_timeout_seconds == null ? {} : { KEYSHIFT_GRAFANA_TIMEOUT_SECONDS = tostring(var.grafana_timeout_seconds) },
  )

  # What each main reads from its environment (crates/lambda-support/src/adapters.rs,
  # crates/fleet-start/src/lib.rs, crates/dlq-replay/src/main.rs).
  function_settings = merge(
    # KEYSHIFT_EVENT_BUS_NAME (local.event_environment) only for the functions that promote:
    # the others refuse it (crates/lambda-support/src/adapters.rs).
    { for function in local.step_functions : function => {
      environment = merge(local.step_environment, contains(local.event_functions, function) ? local.event_environment : {})
      timeout     = var.lambda_timeout_seconds
    } },
    {
      "fleet-start" = {
        environment = {
          KEYSHIFT_STATE_MACHINE_ARN = local.state_machine_arn
          KEYSHIFT_DLQ_URL           = aws_sqs_queue.dlq.url
        }
        timeout = var.fleet_start_timeout_seconds
      }
      "rotate-secret" = {
        environment = merge(local.step_environment, { KEYSHIFT_POLICY = jsonencode(local.rotation_policy) }, local.event_environment)
        timeout     = var.lambda_timeout_seconds
      }
      "dlq-replay" = {
        environment = {
          KEYSHIFT_STATE_MACHINE_ARN   = local.state_machine_arn
          KEYSHIFT_DLQ_URL             = aws_sqs_queue.dlq.url
          KEYSHIFT_REPLAY_MAX_RECEIVES = tostring(var.replay_max_receives)
        }
        timeout = var.fleet_start_timeout_seconds
      }
    },
  )
}

# One log group per function, and the state machine's.
resource "aws_cloudwatch_log_group" "this" {
  for_each = merge(
    { for function in local.functions : function => "/aws/lambda/${var.name}-${function}" },
    { state-machine = "/aws/vendedlogs/states/${local.state_machine_name}" },
  )

  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn
  tags              = var.tags

  depends_on = [aws_kms_key_policy.this]
}

resource "aws_lambda_function" "this" {
  for_each = local.function_settings

  #checkov:skip=CKV_AWS_116:Invoked synchronously by Step Functions and EventBridge Scheduler, whose catches and DLQs take the failures; an async DLQ would never receive anything.
  #checkov:skip=CKV_AWS_117:The functions reach AMG and Grafana endpoints over the internet; run them in a VPC by wrapping the module if your Grafana is private.
  #checkov:skip=CKV_AWS_272:Zips are built locally by scripts/package.sh; code signing needs a signing profile the module cannot assume.
  function_name                  = "${var.name}-${each.key}"
  description                    = "keyshift ${each.key}"
  role                           = aws_iam_role.function[each.key].arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.architecture]
  filename                       = "${local.lambda_zip_dir}/${each.key}.zip"
  source_code_hash               = filebase64sha256("${local.lambda_zip_dir}/${each.key}.zip")
  memory_size                    = var.lambda_memory_mb
  timeout                        = each.value.timeout
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = local.kms_key_arn
  tags                           = var.tags

  environment {
    variables = each.value.environment
  }

  tracing_config {
    mode = "PassThrough"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.this[each.key].name
  }

  depends_on = [aws_iam_role_policy.function]
}
