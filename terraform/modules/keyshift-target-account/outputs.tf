output "role_arn" {
  description = "ARN to put in the keyshift fleet config's accounts[].roleArn (module input fleet.accounts[].role_arn)."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the role."
  value       = aws_iam_role.this.name
}
