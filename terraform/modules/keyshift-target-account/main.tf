# The role fleet-start assumes in another account to list its AMG workspaces (the only call
# it makes there: grafana:ListWorkspaces, see deploy/iam-actions.json).

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
  description          = "Assumed by keyshift's fleet-start to list this account's AMG workspaces"
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
}

resource "aws_iam_role_policy" "this" {
  name   = var.name
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.permissions.json
}
