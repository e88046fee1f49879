# A usage plan (throttling and a quota) on one API stage, and an API key in it. AWS generates
# the key's value: it is never in the repository, only in the Terraform state (keep the state
# encrypted, as infra/bootstrap's backend does) and in the sensitive output `api_key_value`.
resource "aws_api_gateway_usage_plan" "this" {
  name        = "${var.name_prefix}-usage-plan"
  description = "Throttling and quota for clients of ${var.name_prefix}'s order API."

  api_stages {
    api_id = var.rest_api_id
    stage  = var.stage_name
  }

  throttle_settings {
    rate_limit  = var.throttle_rate_limit
    burst_limit = var.throttle_burst_limit
  }

  quota_settings {
    limit  = var.quota_limit
    period = var.quota_period
  }

  tags = var.tags
}

resource "aws_api_gateway_api_key" "this" {
  name        = "${var.name_prefix}-${var.key_name}"
  description = "x-api-key for ${var.name_prefix}'s order API (usage plan ${aws_api_gateway_usage_plan.this.name})."
  enabled     = true
  tags        = var.tags
}

resource "aws_api_gateway_usage_plan_key" "this" {
  key_id        = aws_api_gateway_api_key.this.id
  key_type      = "API_KEY"
  usage_plan_id = aws_api_gateway_usage_plan.this.id
}
