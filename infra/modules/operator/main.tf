# Two roles per stage for `dofs_ops`: the operator's (every command) and a read-only one (list,
# show). Each is allowed exactly the calls the CLI makes: tests/infra/test_operator_role.py
# records them, command by command, against the local stack and compares them with this table.
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  # list and show: read orders and failure records, query the indexes, search the logs.
  read = [
    { sid = "ReadOrders", actions = ["dynamodb:GetItem"], resources = [var.orders_table_arn, var.failed_orders_table_arn] },
    # list reads each page of index keys back in one batch.
    { sid = "ReadListedOrders", actions = ["dynamodb:BatchGetItem"], resources = [var.orders_table_arn] },
    { sid = "ListOrders", actions = ["dynamodb:Query"], resources = var.index_arns },
    { sid = "SearchLogs", actions = ["logs:FilterLogEvents"], resources = [for arn in var.log_group_arns : "${arn}:*"] },
  ]
  # redrive: the order and its failure record change in one transaction, then it is queued.
  redrive = [
    { sid = "Redrive", actions = ["dynamodb:UpdateItem"], resources = [var.orders_table_arn, var.failed_orders_table_arn] },
    { sid = "RequeueOrders", actions = ["sqs:GetQueueUrl", "sqs:SendMessage"], resources = [var.order_queue_arn] },
  ]
  # keys: one API key per client on the stage's usage plan. API Gateway names its IAM actions by
  # HTTP method and its resources by path; a new key's id is not known in advance.
  apigateway = "arn:${data.aws_partition.current.partition}:apigateway:${var.region}::"
  keys = [
    { sid = "FindUsagePlan", actions = ["apigateway:GET"], resources = ["${local.apigateway}/usageplans", "${local.apigateway}/usageplans/${var.usage_plan_id}/keys"] },
    { sid = "ClientKeys", actions = ["apigateway:GET", "apigateway:POST", "apigateway:DELETE"], resources = ["${local.apigateway}/apikeys", "${local.apigateway}/apikeys/*", "${local.apigateway}/usageplans/${var.usage_plan_id}/keys"] },
  ]

  roles = {
    operator          = concat(local.read, local.redrive, var.usage_plan_id == null ? [] : local.keys)
    operator-readonly = local.read
  }
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = length(var.trusted_principal_arns) > 0 ? var.trusted_principal_arns : ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each = toset(keys(local.roles))

  name                 = "${var.prefix}-${each.key}"
  description          = each.key == "operator" ? "dofs_ops: every command (list, show, redrive, keys)" : "dofs_ops: list and show only"
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  permissions_boundary = var.permissions_boundary_arn
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "this" {
  for_each = local.roles

  dynamic "statement" {
    for_each = each.value

    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "this" {
  for_each = local.roles

  name   = aws_iam_role.this[each.key].name
  role   = aws_iam_role.this[each.key].id
  policy = data.aws_iam_policy_document.this[each.key].json
}
