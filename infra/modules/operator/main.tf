# Two roles per stage for `dofs_ops`: the operator's (every command) and a read-only one (list,
# show). Each is allowed exactly the calls the CLI makes: tests/integration/test_operator_roles.py
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
  # HTTP method and its resources by path; key ids are account-wide and not known in advance, so
  # a key is the stage's by its tags (dofs_ops tags it with the stage's at creation).
  apigateway = "arn:${data.aws_partition.current.partition}:apigateway:${var.region}::"
  # Without an API (usage_plan_id null) the keys statements are left out below; the placeholder
  # only keeps their text valid.
  usage_plan = coalesce(var.usage_plan_id, "none")
  keys = [
    { sid = "FindUsagePlanAndKeys", actions = ["apigateway:GET"], resources = ["${local.apigateway}/usageplans", "${local.apigateway}/usageplans/${local.usage_plan}/keys", "${local.apigateway}/apikeys"], condition = "none" },
    { sid = "AddClientKeys", actions = ["apigateway:POST"], resources = ["${local.apigateway}/usageplans/${local.usage_plan}/keys"], condition = "none" },
    { sid = "CreateClientKeys", actions = ["apigateway:POST"], resources = ["${local.apigateway}/apikeys"], condition = "aws:RequestTag" },
    # Tags given at creation are authorized as a TagResource call (PUT on the tags path), as for
    # the pipeline's smoke key (infra/cicd TagSmokeKey).
    { sid = "TagClientKeys", actions = ["apigateway:PUT"], resources = ["${local.apigateway}/tags/*"], condition = "aws:RequestTag" },
    { sid = "ClientKeys", actions = ["apigateway:GET", "apigateway:DELETE"], resources = ["${local.apigateway}/apikeys/*"], condition = "aws:ResourceTag" },
  ]
  roles = {
    operator          = concat(local.read, local.redrive, slice(local.keys, 0, var.usage_plan_id == null ? 0 : length(local.keys)))
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

      # A client key is the stage's by its tags: every one of them must match.
      dynamic "condition" {
        for_each = try(statement.value.condition, "none") == "none" ? {} : var.tags

        content {
          test     = "StringEquals"
          variable = "${statement.value.condition}/${condition.key}"
          values   = [condition.value]
        }
      }
    }
  }
}

resource "aws_iam_role_policy" "this" {
  for_each = local.roles

  name   = aws_iam_role.this[each.key].name
  role   = aws_iam_role.this[each.key].id
  policy = data.aws_iam_policy_document.this[each.key].json
}
