output "stage" {
  description = "The stage planned (var.stage)."
  value       = local.stage
}

output "region" {
  description = "Region of the stage."
  value       = local.settings.region
}

output "api_url" {
  description = "Base URL of the order API (POST {api_url}/order)."
  value       = one(module.api_gateway[*].invoke_url)
}

output "api_usage_plan_name" {
  description = "The stage's usage plan, which every client's API key joins (dofs_ops keys); null without the API."
  value       = one(module.api_gateway[*].usage_plan_name)
}

output "powertools_layer_arn" {
  description = "The Powertools layer version every function carries (read from the powertools_layer_parameter output's SSM parameter)."
  value       = data.aws_ssm_parameter.powertools_layer.insecure_value
}

output "powertools_layer_parameter" {
  description = "Powertools' public SSM parameter the layer is read from: aws ssm get-parameter --name <it>."
  value       = module.app.powertools_layer_parameter
}

output "state_machine_arn" {
  description = "ARN of the order workflow."
  value       = module.stepfunctions.arn
}

output "order_queue_url" {
  description = "URL of order_queue."
  value       = module.sqs.queue_url
}

output "order_queue_arn" {
  description = "ARN of order_queue."
  value       = module.sqs.queue_arn
}

output "order_dlq_url" {
  description = "URL of order_dlq."
  value       = module.sqs.dlq_url
}

output "order_dlq_arn" {
  description = "ARN of order_dlq."
  value       = module.sqs.dlq_arn
}

output "orders_table" {
  description = "Name of the orders table."
  value       = module.dynamodb.table_names["orders"]
}

output "failed_orders_table" {
  description = "Name of the failed_orders table."
  value       = module.dynamodb.table_names["failed_orders"]
}

output "function_names" {
  description = "Handler name to deployed Lambda function name."
  value       = module.app.function_names

  # build/app must be this stage's package: another stage's would deploy its functions here.
  precondition {
    condition     = module.app.function_names == local.function_names
    error_message = "build/app is not the package of stage ${local.stage}: run `make package STAGE=${local.stage}` (make plan does)."
  }
}

output "role_arns" {
  description = "Handler name to its IAM role ARN."
  value       = module.iam.role_arns
}

output "alarm_topic_arn" {
  description = "SNS topic of every alarm (null when monitoring is off)."
  value       = one(module.monitoring[*].topic_arn)
}

output "event_source_mapping_uuids" {
  description = "Event source mapping name (fulfill_order-sqs-event-source, handle_dead_letter-sqs-event-source) to UUID."
  value       = module.app.event_source_mapping_uuids
}

output "operator_role_arns" {
  description = "The roles dofs_ops runs with: operator (every command) and operator-readonly (list, show)."
  value       = module.operator.role_arns
}

output "waf_web_acl_arn" {
  description = "ARN of the stage's AWS WAF web ACL, or null where the stage's waf setting leaves it off."
  value       = one(module.waf[*].web_acl_arn)
}
