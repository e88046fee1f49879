# CI/CD of DOFS: one CodePipeline (V2) that promotes one commit through the stages in order,
# Source -> Test -> for each stage: Plan -> [Approval, every stage after the first] -> Deploy ->
# Smoke, whose builds run the repository's buildspec-*.yml, which call Make targets only.
# See README.md (inputs, outputs, IAM) and docs/PIPELINE.md (diagram, bootstrapping).

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = var.region

  # This stack's own names start with {app}-cicd (a stage's builds, roles and boundary with
  # {app}-cicd-{stage}); a stage's resources start with {app}-{stage}. They never overlap (no
  # stage is called cicd), so a deploy role, which may manage "{app}-{stage}*", can touch neither
  # the pipeline, its roles or its artifacts, nor another stage.
  prefix         = "${var.app_name}-cicd"
  stage_prefixes = { for stage in var.stages : stage => "${var.app_name}-${stage}" }

  # The Powertools layer each stage's functions carry: infra/stage reads its ARN, at plan time,
  # from the public SSM parameter Powertools publishes for the release, runtime and architecture
  # (the Plan and Deploy roles read that parameter; the Deploy role the layer, which AWS checks at
  # CreateFunction). The release is the one pin (requirements/build.in); the runtime, the Python of
  # the Plan build that runs `chalice package` (buildspec-plan.yml), which Chalice packages for;
  # the architecture, the stage's lambda_architecture (.chalice/config.json, Chalice's default x86_64).
  project_dir        = "${path.module}/../.."
  chalice_config     = jsondecode(file("${local.project_dir}/.chalice/config.json"))
  powertools_release = regex("(?m)^aws-lambda-powertools==(\\S+)$", file("${local.project_dir}/requirements/build.in"))[0]
  powertools_runtime = "python${yamldecode(file("${local.project_dir}/buildspec-plan.yml")).phases.install["runtime-versions"].python}"
  powertools_layers = {
    for stage in var.stages : stage => {
      architecture = try(local.chalice_config.stages[stage].lambda_architecture, local.chalice_config.lambda_architecture, "x86_64")
    }
  }

  # The pipeline's and the build projects' ARNs, built from their names: the pipeline role's
  # and the EventBridge role's policies name them, and reading them from the resources would
  # leave those documents unknown wherever the resources cannot be created (the emulator), so
  # the policy analysis could not see them. The checks below compare them with the real ARNs.
  pipeline_name       = local.prefix
  pipeline_arn        = "arn:${local.partition}:codepipeline:${local.region}:${local.account_id}:${local.pipeline_name}"
  build_project_names = { for build in keys(local.builds) : build => "${local.prefix}-${build}" }
  build_project_arns  = { for build, name in local.build_project_names : build => "arn:${local.partition}:codebuild:${local.region}:${local.account_id}:project/${name}" }

  # Not a stage's tags: a deploy role reaches what AWS names by id (API, keys) by its stage's tags.
  tags = merge(var.tags, {
    Project = var.app_name
    Part    = "cicd"
  })

  use_github        = var.source_provider == "GitHub"
  create_connection = local.use_github && var.connection_arn == null
  connection_arn    = local.use_github ? (var.connection_arn != null ? var.connection_arn : one(aws_codestarconnections_connection.github[*].arn)) : null
  codecommit_arn    = local.use_github ? null : "arn:${local.partition}:codecommit:${local.region}:${local.account_id}:${var.codecommit_repository_name}"

  create_topic = var.notification_topic_arn == null
  topic_arn    = local.create_topic ? one(aws_sns_topic.notifications[*].arn) : var.notification_topic_arn

  # Each stage's state key starts {app}/{stage}/ (infra/stages/<stage>.s3.tfbackend).
  state_key_prefixes = { for stage in var.stages : stage => "${var.app_name}/${stage}/" }
  state_bucket       = var.state_bucket != null ? var.state_bucket : "dofs-tfstate-${local.account_id}-${local.region}"
  state_bucket_arn   = "arn:${local.partition}:s3:::${local.state_bucket}"

  # The pipeline's artifacts: names are referenced by the stages and by tests/cicd. A stage's
  # artifacts carry its name ("_": CodeBuild names a secondary source's directory
  # CODEBUILD_SRC_DIR_<artifact>, which must be a variable name).
  source_artifact  = "SourceOutput"
  plan_artifacts   = { for stage in var.stages : stage => "PlanOutput_${stage}" }
  deploy_artifacts = { for stage in var.stages : stage => "DeployOutput_${stage}" }

  # One CodeBuild project per build: the test, and a plan, deploy and smoke build per stage, each
  # with its own role (iam_roles.tf), named {prefix}-{key}: dofs-cicd-test, dofs-cicd-dev-plan, ...
  build_kinds = {
    plan = {
      description = "Runs make plan for the stage and keeps the saved plan as an artifact."
      buildspec   = "buildspec-plan.yml"
    }
    deploy = {
      description = "Applies exactly the saved (and approved) plan from the stage's Plan."
      buildspec   = "buildspec-deploy.yml"
    }
    smoke = {
      description = "Posts one order to the stage's API and waits until it is terminal."
      buildspec   = "buildspec-smoke.yml"
    }
  }
  builds = merge(
    {
      test = {
        kind        = "test"
        stage       = null
        description = "Runs make test: lint, types, unit and offline infrastructure tests."
        buildspec   = "buildspec-test.yml"
      }
    },
    { for pair in setproduct(var.stages, keys(local.build_kinds)) : "${pair[0]}-${pair[1]}" => merge(local.build_kinds[pair[1]], { kind = pair[1], stage = pair[0] }) },
  )

  # The pipeline after Source, in order: Test, then each stage's Plan, Approval (every stage
  # after the first, when require_manual_approval), Deploy and Smoke. Deploy's only input is its
  # Plan's artifact, so it applies exactly the plan that was reviewed.
  stage_steps = [
    for index, stage in var.stages : concat(
      [{ name = "Plan-${stage}", category = "Build", provider = "CodeBuild", build = "${stage}-plan", inputs = [local.source_artifact], outputs = [local.plan_artifacts[stage]], configuration = {} }],
      index > 0 && var.require_manual_approval ? [{
        name = "Approval-${stage}", category = "Approval", provider = "Manual", build = null, inputs = [], outputs = [],
        configuration = {
          NotificationArn    = local.topic_arn
          ExternalEntityLink = "https://${local.region}.console.aws.amazon.com/codesuite/codebuild/${local.account_id}/projects/${local.prefix}-${stage}-plan/history?region=${local.region}"
          CustomData         = "Approve ${local.stage_prefixes[stage]}: open the link and read the terraform plan at the end of the latest ${local.prefix}-${stage}-plan build log. Deploy-${stage} applies exactly that saved plan, of the commit ${var.stages[index - 1]} was deployed and smoke-tested with."
        }
      }] : [],
      [{ name = "Deploy-${stage}", category = "Build", provider = "CodeBuild", build = "${stage}-deploy", inputs = [local.plan_artifacts[stage]], outputs = [local.deploy_artifacts[stage]], configuration = {} }],
      [{ name = "Smoke-${stage}", category = "Test", provider = "CodeBuild", build = "${stage}-smoke", inputs = [local.source_artifact, local.deploy_artifacts[stage]], outputs = [], configuration = { PrimarySource = local.source_artifact } }],
    )
  ]
  pipeline_steps = concat(
    [{ name = "Test", category = "Build", provider = "CodeBuild", build = "test", inputs = [local.source_artifact], outputs = [], configuration = {} }],
    flatten(local.stage_steps),
  )
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
