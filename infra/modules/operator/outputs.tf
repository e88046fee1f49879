output "role_arns" {
  description = "Role name suffix (operator, operator-readonly) to role ARN."
  value       = { for key, role in aws_iam_role.this : key => role.arn }
}
