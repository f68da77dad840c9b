# The role keyshift assumes in another account: fleet-start to list its AMG workspaces,
# discover-keys and revoke-old to administer the managed ones (their grafana:* calls in
# deploy/iam-actions.json; the other steps reach Grafana over HTTP with tokens, not AWS).

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = var.trusted_role_arns
    }

    dynamic "condition" {
      for_each = var.external_id == null ? [] : [var.external_id]
      content {
        test     = "StringEquals"
        variable = "sts:ExternalId"
        values   = [condition.value]
      }
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = var.name
  description          = "Assumed by keyshift to list and administer this account's AMG workspaces"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = var.max_session_duration_seconds
  tags                 = var.tags
}

data "aws_iam_policy_document" "permissions" {
  #checkov:skip=CKV_AWS_356:grafana:ListWorkspaces supports no resource-level permissions.
  statement {
    sid       = "ListWorkspaces"
    actions   = ["grafana:ListWorkspaces"]
    resources = ["*"]
  }

  statement {
    sid       = "AdministerManagedWorkspaces"
    actions   = var.workspace_actions
    resources = ["arn:${data.aws_partition.current.partition}:grafana:*:${data.aws_caller_identity.current.account_id}:/workspaces/*"]

    dynamic "condition" {
      for_each = var.workspace_tags
      content {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${condition.key}"
        values   = [condition.value]
      }
    }
  }
}

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

resource "aws_iam_role_policy" "this" {
  name   = var.name
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.permissions.json
}
