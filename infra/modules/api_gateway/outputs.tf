output "stage_name" {
  description = "Name of the API stage."
  value       = aws_api_gateway_stage.this.stage_name
}

output "stage_arn" {
  description = "ARN of the API stage."
  value       = aws_api_gateway_stage.this.arn
}

output "invoke_url" {
  description = "Base URL of the stage (POST {invoke_url}/order)."
  value       = aws_api_gateway_stage.this.invoke_url
}

output "usage_plan_id" {
  description = "Id of the stage's usage plan, which every client's API key joins."
  value       = aws_api_gateway_usage_plan.this.id
}

output "usage_plan_name" {
  description = "Name of the stage's usage plan ({prefix}-usage-plan): dofs_ops keys finds the plan by it."
  value       = aws_api_gateway_usage_plan.this.name
}

output "usage_plan_arn" {
  description = "ARN of the stage's usage plan."
  value       = aws_api_gateway_usage_plan.this.arn
}

output "access_log_group_name" {
  description = "Name of the access log group (one JSON line per request)."
  value       = aws_cloudwatch_log_group.access.name
}
