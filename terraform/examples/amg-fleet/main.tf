# Every ACTIVE AMG workspace tagged keyshift=managed in two regions of this account, rotated
# daily; alarms go to an existing SNS topic.

provider "aws" {
  region = var.region
}

module "keyshift" {
  source = "../../modules/keyshift"

  name         = "keyshift"
  architecture = "arm64"

  fleet = {
    amg = {
      regions = ["eu-west-1", "us-east-1"]
      tags    = { keyshift = "managed" }
    }
  }
  amg_workspace_tags = { keyshift = "managed" }

  rotation_policy = {
    token_ttl_days     = 30
    grace_period_hours = 24
    rotate_before_days = 7
    max_role           = "Editor"
  }

  schedule_expression = "cron(0 3 * * ? *)"
  schedule_timezone   = "Europe/Dublin"
  alarm_sns_topic_arn = var.alarm_sns_topic_arn

  tags = { project = "keyshift" }
}
