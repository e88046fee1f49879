# The pipeline. Stages, in this order (tests/cicd checks it): Source, Test, Plan, Approval
# (optional, on by default), Deploy, Smoke. Deploy takes the Plan stage's artifact as its
# source, so it applies exactly the plan file that was reviewed, built from the same commit.

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

  stage {
    name = "Test"

    action {
      name            = "Test"
      category        = "Build"
      owner           = "AWS"
      provider        = "CodeBuild"
      version         = "1"
      input_artifacts = [local.source_artifact]

      configuration = {
        ProjectName = aws_codebuild_project.build["test"].name
      }
    }
  }

  stage {
    name = "Plan"

    action {
      name             = "Plan"
      category         = "Build"
      owner            = "AWS"
      provider         = "CodeBuild"
      version          = "1"
      input_artifacts  = [local.source_artifact]
      output_artifacts = [local.plan_artifact]

      configuration = {
        ProjectName = aws_codebuild_project.build["plan"].name
      }
    }
  }

  dynamic "stage" {
    for_each = var.require_manual_approval ? [1] : []

    content {
      name = "Approval"

      action {
        name     = "Approval"
        category = "Approval"
        owner    = "AWS"
        provider = "Manual"
        version  = "1"

        configuration = {
          NotificationArn = local.topic_arn
          CustomData      = "Review the terraform plan printed at the end of the Plan build log (${local.prefix}-plan) before approving: Deploy applies exactly that plan to ${local.stage_prefix}."
        }
      }
    }
  }

  stage {
    name = "Deploy"

    action {
      name             = "Deploy"
      category         = "Build"
      owner            = "AWS"
      provider         = "CodeBuild"
      version          = "1"
      input_artifacts  = [local.plan_artifact]
      output_artifacts = [local.deploy_artifact]

      configuration = {
        ProjectName = aws_codebuild_project.build["deploy"].name
      }
    }
  }

  stage {
    name = "Smoke"

    action {
      name            = "Smoke"
      category        = "Test"
      owner           = "AWS"
      provider        = "CodeBuild"
      version         = "1"
      input_artifacts = [local.source_artifact, local.deploy_artifact]

      configuration = {
        ProjectName   = aws_codebuild_project.build["smoke"].name
        PrimarySource = local.source_artifact
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
