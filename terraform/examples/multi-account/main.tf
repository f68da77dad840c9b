# keyshift in a tooling account, listing AMG workspaces in a workload account through a role
# created there by keyshift-target-account (with an external id).

provider "aws" {
  region = var.region
}

provider "aws" {
  alias  = "workload"
  region = var.region
  assume_role {
    role_arn = var.workload_admin_role_arn
  }
}

locals {
  target_role_name = "keyshift-target"
  target_role_arn  = "arn:aws:iam::${var.workload_account_id}:role/${local.target_role_name}"
}

module "keyshift" {
  source = "../../modules/keyshift"

  name = "keyshift"

  fleet = {
    amg = {
      regions = [var.region]
      tags    = { keyshift = "managed" }
    }
    accounts = [{
      role_arn    = local.target_role_arn
      external_id = var.external_id
      regions     = [var.region]
      tags        = { keyshift = "managed" }
    }]
  }
  amg_workspace_tags  = { keyshift = "managed" }
  alarm_sns_topic_arn = var.alarm_sns_topic_arn
}

module "target" {
  source    = "../../modules/keyshift-target-account"
  providers = { aws = aws.workload }

  name              = local.target_role_name
  trusted_role_arns = module.keyshift.target_account_trusted_role_arns
  workspace_actions = module.keyshift.target_account_workspace_actions
  external_id       = var.external_id
  workspace_tags    = { keyshift = "managed" }
}
