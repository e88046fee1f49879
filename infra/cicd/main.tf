# CI/CD of one DOFS stage: a CodePipeline (V2) Source -> Test -> Plan -> [Approval] -> Deploy
# -> Smoke, whose builds run the repository's buildspec-*.yml, which call Make targets only.
# See README.md (inputs, outputs, IAM) and docs/PIPELINE.md (diagram, bootstrapping).

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = var.region

  # This stack's own names start with {app}-cicd-{stage}; the stage's start with {app}-{stage}.
  # They never overlap, so the deploy role, which may manage "{app}-{stage}*", cannot touch the
  # pipeline, its roles or its artifacts.
  prefix       = "${var.app_name}-cicd-${var.stage}"
  stage_prefix = "${var.app_name}-${var.stage}"

  # The pipeline's and the build projects' ARNs, built from their names: the pipeline role's
  # and the EventBridge role's policies name them, and reading them from the resources would
  # leave those documents unknown wherever the resources cannot be created (the emulator), so
  # the policy analysis could not see them. The checks below compare them with the real ARNs.
  pipeline_name       = local.prefix
  pipeline_arn        = "arn:${local.partition}:codepipeline:${local.region}:${local.account_id}:${local.pipeline_name}"
  build_project_names = { for build in keys(local.builds) : build => "${local.prefix}-${build}" }
  build_project_arns  = { for build, name in local.build_project_names : build => "arn:${local.partition}:codebuild:${local.region}:${local.account_id}:project/${name}" }

  tags = merge(var.tags, {
    Project = var.app_name
    Stage   = var.stage
    Part    = "cicd"
  })

  use_github        = var.source_provider == "GitHub"
  create_connection = local.use_github && var.connection_arn == null
  connection_arn    = local.use_github ? (var.connection_arn != null ? var.connection_arn : one(aws_codestarconnections_connection.github[*].arn)) : null
  codecommit_arn    = local.use_github ? null : "arn:${local.partition}:codecommit:${local.region}:${local.account_id}:${var.codecommit_repository_name}"

  create_topic = var.notification_topic_arn == null
  topic_arn    = local.create_topic ? one(aws_sns_topic.notifications[*].arn) : var.notification_topic_arn

  state_key_prefix = var.state_key_prefix != null ? var.state_key_prefix : "${var.app_name}/${var.stage}/"
  state_bucket     = var.state_bucket != null ? var.state_bucket : "dofs-tfstate-${local.account_id}-${local.region}"
  state_bucket_arn = "arn:${local.partition}:s3:::${local.state_bucket}"

  # The pipeline's artifacts: names are referenced by the stages and by tests/cicd.
  source_artifact = "SourceOutput"
  plan_artifact   = "PlanOutput"
  deploy_artifact = "DeployOutput"

  # One CodeBuild project per build stage; each has its own role (iam_roles.tf).
  builds = {
    test = {
      description = "Runs make test: lint, types, unit and offline infrastructure tests."
      buildspec   = "buildspec-test.yml"
    }
    plan = {
      description = "Runs make plan for the stage and keeps the saved plan as an artifact."
      buildspec   = "buildspec-plan.yml"
    }
    deploy = {
      description = "Applies exactly the saved (and approved) plan from the Plan stage."
      buildspec   = "buildspec-deploy.yml"
    }
    smoke = {
      description = "Posts one order to the deployed API and waits until it is terminal."
      buildspec   = "buildspec-smoke.yml"
    }
  }
}

# GitHub through CodeConnections. A connection created by Terraform starts PENDING: an
# account admin completes the handshake once in the console (docs/PIPELINE.md, Bootstrapping).
resource "aws_codestarconnections_connection" "github" {
  count = local.create_connection ? 1 : 0

  name          = substr("${local.prefix}-github", 0, 32)
  provider_type = "GitHub"
}

check "pipeline_arn" {
  assert {
    condition     = aws_codepipeline.this.arn == local.pipeline_arn
    error_message = "The pipeline's roles name ${local.pipeline_arn}, but the pipeline is ${aws_codepipeline.this.arn}."
  }
}

check "build_project_arns" {
  assert {
    condition     = { for build, project in aws_codebuild_project.build : build => project.arn } == local.build_project_arns
    error_message = "The pipeline role may start ${jsonencode(local.build_project_arns)}, but the projects are ${jsonencode({ for build, project in aws_codebuild_project.build : build => project.arn })}."
  }
}
