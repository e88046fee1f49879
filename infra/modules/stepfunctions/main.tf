# The order workflow from stepfunctions/order_workflow.asl.json, its log group and its role.
locals {
  # Exactly the placeholders of the ASL template (tests/infra checks both sides match).
  definition_vars = {
    validate_order_arn          = var.validate_order_arn
    store_order_arn             = var.store_order_arn
    record_workflow_failure_arn = var.record_workflow_failure_arn
    order_queue_url             = var.order_queue_url
  }
  invoked_functions = [var.validate_order_arn, var.store_order_arn, var.record_workflow_failure_arn]
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts every log group at rest with service-managed keys; a customer managed KMS key adds cost and a key policy for no gain in this project
  #checkov:skip=CKV_AWS_338:retention is a per-stage cost decision (var.log_retention_days, 30 days in dev); raise it for production
  # Step Functions' log delivery needs a resource policy; the /aws/vendedlogs/ prefix keeps it small.
  name              = "/aws/vendedlogs/states/${var.name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = "${var.name}-role"
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "InvokeWorkflowFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = concat(local.invoked_functions, [for arn in local.invoked_functions : "${arn}:*"])
  }

  statement {
    sid       = "EnqueueOrders"
    actions   = ["sqs:SendMessage"]
    resources = [var.order_queue_arn]
  }

  statement {
    # CloudWatch Logs delivery for Step Functions is configured account-wide: AWS requires "*".
    sid = "ExecutionLogDelivery"
    actions = [
      "logs:CreateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:DescribeLogGroups",
      "logs:DescribeResourcePolicies",
      "logs:GetLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:UpdateLogDelivery",
    ]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = var.enable_xray ? [1] : []

    content {
      # X-Ray takes no resource-level permissions: AWS requires "*".
      sid       = "Tracing"
      actions   = ["xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:PutTelemetryRecords", "xray:PutTraceSegments"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.name}-policy"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

resource "aws_sfn_state_machine" "this" {
  #checkov:skip=CKV_AWS_285:executions are logged at the stage's level (var.log_level: ALL by default and in every stage, so the operations CLI can show every execution); state input and output are left out by default (var.include_execution_data) as orders carry customer data
  name       = var.name
  type       = var.type
  role_arn   = aws_iam_role.this.arn
  definition = templatefile(var.definition_file, local.definition_vars)
  tags       = var.tags

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.this.arn}:*"
    include_execution_data = var.include_execution_data
    level                  = var.log_level
  }

  tracing_configuration {
    enabled = var.enable_xray
  }

  # The role's policy must exist before Step Functions validates the log destination.
  depends_on = [aws_iam_role_policy.this]
}
