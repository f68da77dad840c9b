resource "aws_iam_role" "state_machine" {
  name               = "${var.name}-state-machine"
  description        = "keyshift rotate-workspace state machine: invoke the steps, send to the DLQ"
  assume_role_policy = data.aws_iam_policy_document.assume["state_machine"].json
  tags               = var.tags
}

data "aws_iam_policy_document" "state_machine" {
  #checkov:skip=CKV_AWS_111:The log-delivery and X-Ray actions support no resource-level permissions (AWS documents Resource "*" for them).
  #checkov:skip=CKV_AWS_356:The log-delivery and X-Ray actions support no resource-level permissions.
  statement {
    sid       = "InvokeSteps"
    actions   = ["lambda:InvokeFunction"]
    resources = [for function in local.step_functions : aws_lambda_function.this[function].arn]
  }

  statement {
    sid       = "SendFailuresToDlq"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq.arn]
  }

  statement {
    sid       = "EncryptDlqMessages"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [local.kms_key_arn]
  }

  statement {
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
  }

  dynamic "statement" {
    for_each = var.xray_tracing ? [1] : []
    content {
      sid       = "SendTraces"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "state_machine" {
  name   = "${var.name}-state-machine"
  role   = aws_iam_role.state_machine.id
  policy = data.aws_iam_policy_document.state_machine.json
}

resource "aws_sfn_state_machine" "rotate" {
  #checkov:skip=CKV_AWS_285:Logging is on (ERROR level) but deliberately without execution data: payloads carry sealed tokens and workspace details.
  #checkov:skip=CKV_AWS_284:X-Ray is optional (var.xray_tracing); traces add cost and carry state names only.
  name     = local.state_machine_name
  role_arn = aws_iam_role.state_machine.arn
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

  depends_on = [aws_iam_role_policy.state_machine]
}
