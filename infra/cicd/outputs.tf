output "pipeline_name" {
  description = "Name of the pipeline."
  value       = aws_codepipeline.this.name
}

output "pipeline_arn" {
  description = "ARN of the pipeline."
  value       = aws_codepipeline.this.arn
}

output "artifact_bucket" {
  description = "Name of the KMS-encrypted artifact bucket."
  value       = aws_s3_bucket.artifacts.bucket
}

output "kms_key_arn" {
  description = "KMS key of the artifacts, build logs and the topic this stack creates."
  value       = aws_kms_key.cicd.arn
}

output "codebuild_projects" {
  description = "Build (test, <stage>-plan, <stage>-deploy, <stage>-smoke) to CodeBuild project name."
  value       = { for key, project in aws_codebuild_project.build : key => project.name }
}

output "codebuild_role_arns" {
  description = "Build stage to the ARN of its CodeBuild service role."
  value       = { for key, role in aws_iam_role.codebuild : key => role.arn }
}

output "build_log_groups" {
  description = "Build stage to its CloudWatch Logs group."
  value       = { for key, group in aws_cloudwatch_log_group.build : key => group.name }
}

output "connection_arn" {
  description = "CodeConnections connection used by the Source stage (null for CodeCommit)."
  value       = local.connection_arn
}

output "connection_status" {
  description = "Status of the connection this stack created: PENDING until the handshake is completed in the console (null when none was created)."
  value       = one(aws_codestarconnections_connection.github[*].connection_status)
}

output "notification_topic_arn" {
  description = "SNS topic receiving pipeline failures and approval requests."
  value       = local.topic_arn
}

output "stage_permissions_boundary_arns" {
  description = "Stage to the permissions boundary its roles must carry; the stage's Plan and Deploy builds pass it to the stage as TF_VAR_permissions_boundary_arn."
  value       = { for stage, boundary in aws_iam_policy.stage_boundary : stage => boundary.arn }
}
