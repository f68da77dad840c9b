# Secrets Manager's own rotation of chosen managed secrets with the rotate-secret Lambda
# (variable native_rotation; nothing here when it is null). Secrets Manager invokes the
# function as itself, so the function's resource policy lets secretsmanager.amazonaws.com in,
# from this account only. The function's role holds the KMS grants (iam.tf: seal and unseal,
# and GenerateDataKey through Secrets Manager for the new versions) and the key policy names
# every function role (kms.tf).

resource "aws_lambda_permission" "secrets_manager_rotation" {
  count = var.native_rotation == null ? 0 : 1

  statement_id   = "AllowSecretsManagerRotation"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.this["rotate-secret"].function_name
  principal      = "secretsmanager.amazonaws.com"
  source_account = local.account_id
}

resource "aws_secretsmanager_secret_rotation" "native" {
  for_each = toset(local.native_rotation_secret_arns)

  #checkov:skip=CKV_AWS_304:The schedule is the caller's native_rotation.schedule_expression, which checkov cannot read; tokens live at most 30 days, so a working schedule is shorter than that anyway.

  secret_id           = each.value
  rotation_lambda_arn = aws_lambda_function.this["rotate-secret"].arn

  rotation_rules {
    schedule_expression = var.native_rotation.schedule_expression
  }

  depends_on = [aws_lambda_permission.secrets_manager_rotation]
}
