# A consumer of a keyshift-managed token: the grafana provider authenticates with the token
# keyshift keeps in Secrets Manager (the AWSCURRENT version, so a rotation is picked up on the
# next plan). The secret's JSON carries `token` and `grafanaUrl` (ManagedSecretValue in
# crates/core/src/model/secret_value.rs).

terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.40, < 7.0" }
    grafana = {
      source  = "grafana/grafana"
      version = ">= 3.0, < 5.0"
    }
  }
}

provider "aws" {
  region = var.region
}

data "aws_secretsmanager_secret_version" "grafana" {
  secret_id     = var.secret_name
  version_stage = "AWSCURRENT"
}

locals {
  grafana_secret = jsondecode(data.aws_secretsmanager_secret_version.grafana.secret_string)
}

provider "grafana" {
  url  = local.grafana_secret.grafanaUrl
  auth = local.grafana_secret.token
}

resource "grafana_folder" "managed" {
  title = "Managed with a keyshift-rotated token"
}
