output "state_bucket" {
  description = "Name of the state bucket: pass it as STATE_BUCKET to make plan/deploy/destroy."
  value       = aws_s3_bucket.state.bucket
}

output "state_bucket_arn" {
  description = "ARN of the state bucket."
  value       = aws_s3_bucket.state.arn
}

output "apigateway_cloudwatch_role_arn" {
  description = "Role API Gateway uses to write access logs (null when not managed here)."
  value       = one(aws_iam_role.apigateway_cloudwatch[*].arn)
}
