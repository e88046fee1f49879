# The pipeline. Stages, in this order (tests/cicd checks it): Source, Test, then for each stage
# of var.stages: Plan-<stage>, Approval-<stage> (every stage after the first; optional, on by
# default), Deploy-<stage>, Smoke-<stage>. Every stage builds from the one Source artifact, and
# Deploy takes its Plan's artifact as its source, so it applies exactly the plan file that was
# reviewed, built from the same commit that the earlier stages deployed and smoke-tested.

resource "aws_codepipeline" "this" {
  name           = local.pipeline_name
  role_arn       = aws_iam_role.codepipeline.arn
  pipeline_type  = "V2"
  execution_mode = "QUEUED" # one execution at a time: each plan is made against the state the previous one left
  # Creating a pipeline starts its first run, which needs the role's permissions (the policy
  # names the projects by their built ARNs, so this makes no cycle).
  depends_on = [aws_iam_role_policy.codepipeline]

  artifact_store {
    type     = "S3"
    location = aws_s3_bucket.artifacts.bucket

    encryption_key {
      type = "KMS"
      id   = aws_kms_key.cicd.arn
    }
  }

  stage {
    name = "Source"

    dynamic "action" {
      for_each = local.use_github ? [1] : []

      content {
        name             = "Source"
        category         = "Source"
        owner            = "AWS"
        provider         = "CodeStarSourceConnection"
        version          = "1"
        output_artifacts = [local.source_artifact]

        configuration = {
          ConnectionArn        = local.connection_arn
          FullRepositoryId     = var.repository_id
          BranchName           = var.branch
          OutputArtifactFormat = "CODE_ZIP"
          DetectChanges        = "true"
        }
      }
    }

    dynamic "action" {
      for_each = local.use_github ? [] : [1]

      content {
        name             = "Source"
        category         = "Source"
        owner            = "AWS"
        provider         = "CodeCommit"
        version          = "1"
        output_artifacts = [local.source_artifact]

        configuration = {
          RepositoryName       = var.codecommit_repository_name
          BranchName           = var.branch
          OutputArtifactFormat = "CODE_ZIP"
          PollForSourceChanges = "false" # notifications.tf starts the pipeline on push
        }
      }
    }
  }

  # Test, then each stage's Plan, [Approval], Deploy and Smoke (local.pipeline_steps, main.tf).
  dynamic "stage" {
    for_each = local.pipeline_steps

    content {
      name = stage.value.name

      action {
        name             = stage.value.name
        category         = stage.value.category
        owner            = "AWS"
        provider         = stage.value.provider
        version          = "1"
        input_artifacts  = stage.value.inputs
        output_artifacts = stage.value.outputs
        configuration    = stage.value.build != null ? merge(stage.value.configuration, { ProjectName = aws_codebuild_project.build[stage.value.build].name }) : stage.value.configuration
      }
    }
  }

  # V2 trigger: only pushes to the branch start the pipeline (GitHub source).
  dynamic "trigger" {
    for_each = local.use_github ? [1] : []

    content {
      provider_type = "CodeStarSourceConnection"

      git_configuration {
        source_action_name = "Source"

        push {
          branches {
            includes = [var.branch]
          }
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = local.use_github ? var.repository_id != null : var.codecommit_repository_name != null
      error_message = "Set repository_id (\"owner/name\") for source_provider = \"GitHub\", or codecommit_repository_name for \"CodeCommit\"."
    }
  }
}
