output "usage_plan_id" {
  description = "Id of the usage plan."
  value       = aws_api_gateway_usage_plan.this.id
}

output "api_key_id" {
  description = "Id of the API key (aws apigateway get-api-key --include-value reads its value too)."
  value       = aws_api_gateway_api_key.this.id
}

output "api_key_value" {
  description = "The x-api-key value to give the client (sensitive: terraform output -raw api_key_value)."
  value       = aws_api_gateway_api_key.this.value
  sensitive   = true
}
