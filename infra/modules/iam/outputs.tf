output "role_arns" {
  description = "Handler name to the ARN of its role."
  value       = { for handler, role in aws_iam_role.function : handler => role.arn }
}

output "role_names" {
  description = "Handler name to the name of its role."
  value       = { for handler, role in aws_iam_role.function : handler => role.name }
}
