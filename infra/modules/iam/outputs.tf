output "role_arns" {
  description = "Handler name to the ARN of its role, known only once the role's policy exists: AWS checks the policy when the function (X-Ray) and its event source mapping (SQS) are created."
  value       = { for handler, role in aws_iam_role.function : handler => role.arn }

  depends_on = [aws_iam_role_policy.function]
}

output "role_names" {
  description = "Handler name to the name of its role."
  value       = { for handler, role in aws_iam_role.function : handler => role.name }
}
