# A self-hosted Grafana reached by URL; its admin credential ({"username": ..., "password": ...}
# or {"token": ...}) is kept in Secrets Manager by you, keyshift only reads it.

provider "aws" {
  region = var.region
}

module "keyshift" {
  source = "../../modules/keyshift"

  name         = "keyshift-ops"
  architecture = "x86_64"

  fleet = {
    self_hosted = [{
      url              = var.grafana_url
      admin_secret_arn = var.admin_secret_arn
      secret_name      = "ops-grafana"
    }]
  }

  rotation_policy = {
    token_ttl_days     = 14
    grace_period_hours = 12
    rotate_before_days = 4
  }

  schedule_expression = "rate(12 hours)"
  alarm_sns_topic_arn = var.alarm_sns_topic_arn

  # Secrets Manager rotating chosen secrets itself (e.g. one `keyshift secret create` made),
  # with the rotate-secret Lambda; off unless secrets are named.
  native_rotation = length(var.natively_rotated_secret_arns) == 0 ? null : {
    secret_arns         = var.natively_rotated_secret_arns
    schedule_expression = "rate(10 days)"
  }
}
