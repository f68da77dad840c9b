# The state machine's role (aws_iam_role.service in iam.tf): invoke the steps, send to the
# DLQ, deliver logs, with xray_tracing send traces and with event_bus_name publish its failure
# event. The log-delivery and X-Ray actions support no resource-level permissions (AWS
# documents Resource "*" for them).
locals {
  state_machine_statements = concat(
    [
      { sid = "InvokeSteps", actions = ["lambda:InvokeFunction"], resources = [for function in local.step_functions : aws_lambda_function.this[function].arn] },
      { sid = "SendFailuresToDlq", actions = ["sqs:SendMessage"], resources = [aws_sqs_queue.dlq.arn] },
      { sid = "EncryptDlqMessages", actions = ["kms:GenerateDataKey", "kms:Decrypt"], resources = [local.kms_key_arn] },
      {
        sid = "DeliverLogs"
        actions = [
          "logs:CreateLogDelivery",
          "logs:GetLogDelivery",
          "logs:UpdateLogDelivery",
          "logs:DeleteLogDelivery",
          "logs:ListLogDeliveries",
          "logs:PutResourcePolicy",
          "logs:DescribeResourcePolicies",
          "logs:DescribeLogGroups",
        ]
        resources = ["*"]
      },
    ],
    var.xray_tracing ? [{ sid = "SendTraces", actions = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"], resources = ["*"] }] : [],
    # The "Rotation Failed" event (PublishRotationFailed in the ASL), only with a bus.
    [for arn in local.event_bus_arns : { sid = "PublishRotationEvents", actions = ["events:PutEvents"], resources = [arn], conditions = local.event_source_conditions }],
  )
}

resource "aws_sfn_state_machine" "rotate" {
  #checkov:skip=CKV_AWS_285:Logging is on (ERROR level) but deliberately without execution data: payloads carry sealed tokens and workspace details.
  #checkov:skip=CKV_AWS_284:X-Ray is optional (var.xray_tracing); traces add cost and carry state names only.
  name     = local.state_machine_name
  role_arn = aws_iam_role.service["state-machine"].arn
  type     = "STANDARD"
  tags     = var.tags

  # Every ${...} placeholder of the ASL, and nothing else (terraform/tests/test_module.py).
  definition = templatefile("${path.module}/../../../statemachine/rotate-workspace.asl.json", {
    discover_keys_arn = aws_lambda_function.this["discover-keys"].arn
    create_sa_arn     = aws_lambda_function.this["create-sa"].arn
    mint_token_arn    = aws_lambda_function.this["mint-token"].arn
    store_secret_arn  = aws_lambda_function.this["store-secret"].arn
    verify_arn        = aws_lambda_function.this["verify"].arn
    revoke_old_arn    = aws_lambda_function.this["revoke-old"].arn
    dlq_url           = aws_sqs_queue.dlq.url
    # Empty: no event bus, the ASL skips publishing the failure event.
    event_bus_name = var.event_bus_name == null ? "" : var.event_bus_name
  })

  logging_configuration {
    # ERROR without execution data: inputs and outputs carry sealed tokens and workspace
    # details that have no place in logs.
    level                  = "ERROR"
    include_execution_data = false
    log_destination        = "${aws_cloudwatch_log_group.this["state-machine"].arn}:*"
  }

  tracing_configuration {
    enabled = var.xray_tracing
  }

  depends_on = [aws_iam_role_policy.service]
}
