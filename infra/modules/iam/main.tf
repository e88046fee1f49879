# One role per Lambda function, each allowed only the calls its code makes on the resources it
# touches. tests/infra/test_iam.py compares this table with the calls in chalicelib/.
locals {
  orders        = var.orders_table_arn
  orders_index  = var.orders_open_index_arn
  failed_orders = var.failed_orders_table_arn
  sqs_consume   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]

  # handler => statements. DynamoDB TransactWriteItems is authorised per item (PutItem, UpdateItem).
  permissions = {
    api_handler = [
      { sid = "Orders", actions = ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem"], resources = [local.orders] },
      { sid = "StartWorkflow", actions = ["states:StartExecution"], resources = [var.state_machine_arn] },
    ]
    validate_order = []
    store_order = [
      # GetItem: a retried execution reads back the verdict it may already have recorded.
      { sid = "Orders", actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"], resources = [local.orders] },
    ]
    record_workflow_failure = [
      { sid = "Orders", actions = ["dynamodb:UpdateItem"], resources = [local.orders] },
      { sid = "FailedOrders", actions = ["dynamodb:UpdateItem", "dynamodb:GetItem"], resources = [local.failed_orders] },
    ]
    fulfill_order = [
      { sid = "Orders", actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"], resources = [local.orders] },
      { sid = "ConsumeOrderQueue", actions = local.sqs_consume, resources = [var.order_queue_arn] },
      # A transient failure's message goes back to order_queue as a copy (no receive spent); a
      # copy whose attempts are used up goes to order_dlq itself, as the redrive policy would.
      { sid = "RetryWithoutSpendingAnAttempt", actions = ["sqs:SendMessage"], resources = [var.order_queue_arn, var.order_dlq_arn] },
    ]
    handle_dead_letter = [
      { sid = "Orders", actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"], resources = [local.orders] },
      { sid = "FailedOrders", actions = ["dynamodb:UpdateItem", "dynamodb:GetItem"], resources = [local.failed_orders] },
      { sid = "ConsumeDeadLetterQueue", actions = local.sqs_consume, resources = [var.order_dlq_arn] },
    ]
    reconcile_orders = [
      # Query: the open orders on the open-orders index; GetItem/UpdateItem: read, claim, dead-letter.
      { sid = "FindStuckOrders", actions = ["dynamodb:Query"], resources = [local.orders_index] },
      { sid = "Orders", actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"], resources = [local.orders] },
      { sid = "FailedOrders", actions = ["dynamodb:UpdateItem", "dynamodb:GetItem"], resources = [local.failed_orders] },
      { sid = "RestartWorkflow", actions = ["states:StartExecution"], resources = [var.state_machine_arn] },
      { sid = "RequeueOrders", actions = ["sqs:SendMessage"], resources = [var.order_queue_arn] },
    ]
  }
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  # Keyed by the (static) function names, not the permissions table: a role must not wait for
  # the state machine, which waits for the functions, which wait for their roles.
  for_each = var.function_names

  name                 = "${var.prefix}-${each.key}"
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

data "aws_iam_policy_document" "function" {
  for_each = var.function_names

  statement {
    # The log group is created by Terraform; the function only writes to it.
    sid       = "OwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${var.log_group_arns[each.key]}:*"]
  }

  dynamic "statement" {
    for_each = local.permissions[each.key]

    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }

  dynamic "statement" {
    for_each = var.enable_xray ? [1] : []

    content {
      # X-Ray takes no resource-level permissions: AWS requires "*".
      sid       = "Tracing"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = var.function_names

  name   = "${var.prefix}-${each.key}"
  role   = aws_iam_role.function[each.key].id
  policy = data.aws_iam_policy_document.function[each.key].json
}
