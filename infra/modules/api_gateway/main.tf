# What an API stage needs beyond the REST API and deployment Chalice packages: the stage itself
# with its access log, X-Ray and throttling, and the usage plan every client's API key is attached
# to. No API key is made here: keys are per client, made by `dofs_ops keys`, so no key value is
# ever in Terraform state, a plan or an output.

locals {
  # One JSON line per API request, apiKeyId telling the clients apart. A file of its own: the cost
  # model prices its bytes (dofs_local/measurement/cost.py). jsonencode writes it on one line.
  access_log_format = jsonencode(jsondecode(file("${path.module}/access_log_format.json")))
  # `dofs_ops keys` finds the stage's usage plan by this name.
  usage_plan_name = "${var.prefix}-usage-plan"
}

resource "aws_cloudwatch_log_group" "access" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts every log group at rest with service-managed keys; a customer managed KMS key adds cost and a key policy for no gain in this project
  #checkov:skip=CKV_AWS_338:retention is a per-stage setting (log_retention_days in .chalice/config.json: 30 days in dev, a year in prod)
  name              = "/aws/apigateway/${var.prefix}/access"
  retention_in_days = var.access_log_retention_days
  tags              = var.tags
}

resource "aws_api_gateway_stage" "this" {
  #checkov:skip=CKV_AWS_120:responses are per order and change as it moves: a cache would serve stale orders
  #checkov:skip=CKV2_AWS_29:the web application firewall is a separate, optional per-stage setting
  #checkov:skip=CKV2_AWS_51:clients authenticate with API keys over TLS, not client certificates
  rest_api_id          = var.rest_api_id
  deployment_id        = var.deployment_id
  stage_name           = var.stage_name
  xray_tracing_enabled = var.enable_xray
  tags                 = var.tags

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format          = local.access_log_format
  }
}

# The stage's throttle bounds all clients together; the usage plan's bounds each client's key.
resource "aws_api_gateway_method_settings" "all" {
  #checkov:skip=CKV_AWS_225:caching is off on purpose (see the stage)
  rest_api_id = var.rest_api_id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    logging_level          = var.logging_level
    throttling_rate_limit  = var.throttling_rate_limit
    throttling_burst_limit = var.throttling_burst_limit
  }
}

resource "aws_api_gateway_usage_plan" "this" {
  name        = local.usage_plan_name
  description = "Per-client throttle and quota of ${var.prefix}'s API keys (one key per client: dofs_ops keys)."
  tags        = var.tags

  api_stages {
    api_id = var.rest_api_id
    stage  = aws_api_gateway_stage.this.stage_name
  }

  throttle_settings {
    rate_limit  = var.client_rate_limit
    burst_limit = var.client_burst_limit
  }

  # No block, no quota: a daily quota must never cap the stage below the rate it carries.
  dynamic "quota_settings" {
    for_each = var.client_quota_per_day == null ? [] : [var.client_quota_per_day]
    content {
      limit  = quota_settings.value
      period = "DAY"
    }
  }
}
