# Addresses of resources merged into for_each blocks, so that existing state moves instead of
# being destroyed and created again.

moved {
  from = aws_cloudwatch_log_group.function
  to   = aws_cloudwatch_log_group.this
}

moved {
  from = aws_cloudwatch_log_group.state_machine
  to   = aws_cloudwatch_log_group.this["state-machine"]
}

moved {
  from = aws_iam_role.state_machine
  to   = aws_iam_role.service["state-machine"]
}

moved {
  from = aws_iam_role.scheduler
  to   = aws_iam_role.service["scheduler"]
}

moved {
  from = aws_iam_role_policy.state_machine
  to   = aws_iam_role_policy.service["state-machine"]
}

moved {
  from = aws_iam_role_policy.scheduler
  to   = aws_iam_role_policy.service["scheduler"]
}

moved {
  from = aws_scheduler_schedule.fleet_start
  to   = aws_scheduler_schedule.this["fleet-start"]
}

moved {
  from = aws_scheduler_schedule.dlq_replay[0]
  to   = aws_scheduler_schedule.this["dlq-replay"]
}
