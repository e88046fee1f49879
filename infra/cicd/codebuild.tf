# One CodeBuild project per build: the test, and each stage's plan, deploy and smoke. Each runs a
# buildspec-*.yml from the repository root, which calls Make targets only: CodeBuild runs
# exactly what a developer runs, with STAGE set to its stage.

resource "aws_cloudwatch_log_group" "build" {
  #checkov:skip=CKV_AWS_338:Build logs matter for days, not a year; log_retention_days (default 30) sets it, and CloudTrail keeps the audit trail.
  for_each = local.builds

  name              = "/aws/codebuild/${local.prefix}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.cicd.arn
}

resource "aws_codebuild_project" "build" {
  for_each = local.builds

  name           = local.build_project_names[each.key]
  description    = each.value.description
  service_role   = aws_iam_role.codebuild[each.key].arn
  build_timeout  = each.value.kind == "test" ? var.test_timeout_minutes : var.build_timeout_minutes
  queued_timeout = 60
  encryption_key = aws_kms_key.cicd.arn

  source {
    type      = "CODEPIPELINE"
    buildspec = each.value.buildspec
  }

  artifacts {
    type = "CODEPIPELINE"
  }

  environment {
    type                        = "LINUX_CONTAINER"
    image                       = var.codebuild_image
    compute_type                = each.value.kind == "test" ? var.test_compute_type : var.codebuild_compute_type
    image_pull_credentials_type = "CODEBUILD"
    privileged_mode             = false

    dynamic "environment_variable" {
      for_each = each.value.stage != null ? [each.value.stage] : []

      content {
        name  = "STAGE"
        value = environment_variable.value
      }
    }

    environment_variable {
      name  = "STATE_BUCKET"
      value = local.state_bucket
    }

    environment_variable {
      name  = "TERRAFORM_VERSION"
      value = var.terraform_version
    }

    # The stage's roles must carry the boundary its Deploy role is held to (iam_roles.tf).
    dynamic "environment_variable" {
      for_each = contains(["plan", "deploy"], each.value.kind) ? [aws_iam_policy.stage_boundary[each.value.stage].arn] : []

      content {
        name  = "TF_VAR_permissions_boundary_arn"
        value = environment_variable.value
      }
    }

    environment_variable {
      name  = "TF_IN_AUTOMATION"
      value = "1"
    }

    environment_variable {
      name  = "TF_INPUT"
      value = "0"
    }
  }

  logs_config {
    cloudwatch_logs {
      status     = "ENABLED"
      group_name = aws_cloudwatch_log_group.build[each.key].name
    }

    s3_logs {
      status = "DISABLED"
    }
  }
}
