# Least privilege, role by role (README.md, "IAM"): the pipeline may only move artifacts and
# start its own builds; each build only reads its inputs, writes its own logs and outputs, and:
#   test   nothing else (make test is offline);
# and, per stage (roles {app}-cicd-{stage}-plan, -deploy, -smoke: each only for its own stage):
#   plan   reads the stage's resources and state, takes/releases the state lock, and saves its
#          plan beside the state (the plan embeds the state: no artifact carries it);
#   deploy also creates, changes and deletes resources named {app}-{stage}*, and writes state;
#   smoke  reads the value of the stage's API key.
# Resources are named wherever the AWS API allows it, found by the stage's tags where their ARNs
# carry ids; "*" only where AWS requires it. Every role the Deploy role writes carries the stage
# boundary (stage_boundary below). tests/infra/test_pipeline_roles.py runs each stage with its
# role against the emulator and analyses every policy with parliament and cloudsplaining.

locals {
  arn    = "arn:${local.partition}"
  ra     = "${local.region}:${local.account_id}"
  apigw  = "${local.arn}:apigateway:${local.region}::"
  logs   = "${local.arn}:logs:${local.ra}:log-group"
  lambda = "${local.arn}:lambda:${local.ra}:function"

  # Each stage's resources, by the naming rule {app}-{stage}... (the API handler is "{app}-{stage}").
  stage_arns = {
    for stage, stage_prefix in local.stage_prefixes : stage => {
      tables         = ["${local.arn}:dynamodb:${local.ra}:table/${stage_prefix}-*"]
      queues         = ["${local.arn}:sqs:${local.ra}:${stage_prefix}-*"]
      state_machines = ["${local.arn}:states:${local.ra}:stateMachine:${stage_prefix}-*"]
      functions      = ["${local.lambda}:${stage_prefix}", "${local.lambda}:${stage_prefix}-*"]
      roles          = ["${local.arn}:iam::${local.account_id}:role/${stage_prefix}-*", "${local.arn}:iam::${local.account_id}:role/${stage_prefix}"]
      log_groups     = ["${local.logs}:*${stage_prefix}*"]
      alarms         = ["${local.arn}:cloudwatch:${local.ra}:alarm:${stage_prefix}-*"]
      dashboards     = ["${local.arn}:cloudwatch::${local.account_id}:dashboard/${stage_prefix}-*"]
      topics         = ["${local.arn}:sns:${local.ra}:${stage_prefix}-*"]
      rules          = ["${local.arn}:events:${local.ra}:rule/${stage_prefix}-*"] # the reconciler's schedule
      sampling_rules = ["${local.arn}:xray:${local.ra}:sampling-rule/${stage_prefix}-*"]
      # Published by Powertools (account 017000801446): read, never written. The layer's version
      # is what the parameter names at plan time: any version of that one layer.
      powertools_parameters = ["${local.arn}:ssm:${local.region}::parameter/aws/service/powertools/python/${local.powertools_layers[stage].architecture}/${local.powertools_runtime}/${local.powertools_release}"]
      powertools_layers     = ["${local.arn}:lambda:${local.region}:017000801446:layer:AWSLambdaPowertoolsPythonV${split(".", local.powertools_release)[0]}-${replace(local.powertools_runtime, ".", "")}-${local.powertools_layers[stage].architecture}:*"]
      # Their ARNs carry random ids, not names: tags or the function they feed scope them.
      event_source_mappings = ["${local.arn}:lambda:${local.ra}:event-source-mapping:*"]
      keys                  = ["${local.arn}:kms:${local.ra}:key/*"]
      key_aliases           = ["${local.arn}:kms:${local.ra}:alias/${stage_prefix}-*"]
      # API Gateway ARNs carry ids, not names: the REST API, its keys and usage plans are the
      # stage's by their tags (children, such as deployments, inherit their API's tags).
      api_collections = ["${local.apigw}/restapis", "${local.apigw}/apikeys", "${local.apigw}/usageplans"]
      api_resources   = ["${local.apigw}/restapis/*", "${local.apigw}/apikeys/*", "${local.apigw}/usageplans/*", "${local.apigw}/tags/*"]
    }
  }

  state_objects = { for stage, key_prefix in local.state_key_prefixes : stage => "${local.state_bucket_arn}/${key_prefix}*" }
  # The Plan build's saved plans (make save-plan): under the state's prefix, so the roles that read
  # the stage's state (its Plan and Deploy), and no other build, read them.
  saved_plans = { for stage, key_prefix in local.state_key_prefixes : stage => "${local.state_bucket_arn}/${key_prefix}plans/*" }
}

# --- trust ---------------------------------------------------------------------------------

data "aws_iam_policy_document" "assume" {
  for_each = toset(["codepipeline", "codebuild", "events"])

  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["${each.key}.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# --- CodePipeline ----------------------------------------------------------------------------

resource "aws_iam_role" "codepipeline" {
  name               = "${local.prefix}-pipeline"
  assume_role_policy = data.aws_iam_policy_document.assume["codepipeline"].json
}

data "aws_iam_policy_document" "codepipeline" {
  statement {
    sid       = "Artifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    resources = ["${aws_s3_bucket.artifacts.arn}/*"]
  }

  statement {
    sid       = "ArtifactBucket"
    actions   = ["s3:GetBucketVersioning", "s3:GetBucketLocation", "s3:ListBucket"]
    resources = [aws_s3_bucket.artifacts.arn]
  }

  statement {
    sid       = "ArtifactKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = [aws_kms_key.cicd.arn]
  }

  statement {
    sid       = "OwnBuilds"
    actions   = ["codebuild:StartBuild", "codebuild:BatchGetBuilds", "codebuild:StopBuild"]
    resources = values(local.build_project_arns) # built from their names (main.tf)
  }

  dynamic "statement" {
    for_each = local.use_github ? [1] : []

    content {
      sid       = "GitHubConnection"
      actions   = ["codestar-connections:UseConnection", "codeconnections:UseConnection"]
      resources = [local.connection_arn]
    }
  }

  dynamic "statement" {
    for_each = local.use_github ? [] : [1]

    content {
      sid = "CodeCommitSource"
      actions = [
        "codecommit:GetBranch", "codecommit:GetCommit", "codecommit:GetRepository",
        "codecommit:UploadArchive", "codecommit:GetUploadArchiveStatus", "codecommit:CancelUploadArchive",
      ]
      resources = [local.codecommit_arn]
    }
  }

  dynamic "statement" {
    for_each = var.require_manual_approval ? [1] : []

    content {
      sid       = "ApprovalRequests"
      actions   = ["sns:Publish"]
      resources = [local.topic_arn]
    }
  }

  dynamic "statement" {
    for_each = var.require_manual_approval && var.notification_topic_kms_key_arn != null ? [1] : []

    content {
      sid       = "ApprovalTopicKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
      resources = [var.notification_topic_kms_key_arn]
    }
  }
}

resource "aws_iam_role_policy" "codepipeline" {
  name   = "pipeline"
  role   = aws_iam_role.codepipeline.id
  policy = data.aws_iam_policy_document.codepipeline.json
}

# --- CodeBuild: one role per project ---------------------------------------------------------

resource "aws_iam_role" "codebuild" {
  for_each = local.builds

  name               = "${local.prefix}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume["codebuild"].json
}

# Every policy below is written as data: sid => { actions, resources, condition, ... }, where
# condition names an entry of local.conditions. One dynamic block renders them all.
locals {
  # The tags a stage puts on everything it creates (default_tags of infra/stage): API Gateway
  # and KMS ARNs carry ids, not names, so a stage's roles reach them by these tags.
  stage_tags = { for stage in var.stages : stage => { Project = var.app_name, Stage = stage } }

  # Conditions by name: "none", and "<stage>/<name>" for each stage.
  conditions = merge({ none = [] }, merge([
    for stage in var.stages : { for name, condition in {
      # Existing resources of the stage.
      stage_resource = [for key, value in local.stage_tags[stage] : { test = "StringEquals", variable = "aws:ResourceTag/${key}", values = [value] }]
      # Resources created (or tagged on create) with the stage's tags.
      stage_request = [for key, value in local.stage_tags[stage] : { test = "StringEquals", variable = "aws:RequestTag/${key}", values = [value] }]
      # The smoke test's API key: the stage's tags and Client=smoke (dofs_ops/keys.py tags it so).
      smoke_key_request = [for key, value in merge(local.stage_tags[stage], { Client = "smoke" }) : { test = "StringEquals", variable = "aws:RequestTag/${key}", values = [value] }]
      smoke_key         = [for key, value in merge(local.stage_tags[stage], { Client = "smoke" }) : { test = "StringEquals", variable = "aws:ResourceTag/${key}", values = [value] }]
      stage_functions   = [{ test = "ArnLike", variable = "lambda:FunctionArn", values = local.stage_arns[stage].functions }]
      # Every role the Deploy role creates or changes carries the boundary.
      boundary = [{ test = "StringEquals", variable = "iam:PermissionsBoundary", values = [aws_iam_policy.stage_boundary[stage].arn] }]
      boundary_and_attachable = [
        { test = "StringEquals", variable = "iam:PermissionsBoundary", values = [aws_iam_policy.stage_boundary[stage].arn] },
        { test = "ArnEquals", variable = "iam:PolicyARN", values = var.stage_managed_policy_arns },
      ]
      passed_to_stage_services = [{ test = "StringEquals", variable = "iam:PassedToService", values = ["lambda.amazonaws.com", "states.amazonaws.com", "apigateway.amazonaws.com"] }]
    } : "${stage}/${name}" => condition }
  ]...))

  # What a build needs besides its logs and input artifacts, by the kinds of build that need it
  # (test, plan, deploy, smoke); a stage's builds get their own stage's state and key only.
  build_statements = {
    for key, build in local.builds : key => {
      for sid, statement in {
        OwnLogs             = { kinds = ["test", "plan", "deploy", "smoke"], actions = ["logs:CreateLogStream", "logs:PutLogEvents"], resources = ["${aws_cloudwatch_log_group.build[key].arn}:*"], condition = "none" }
        ReadArtifacts       = { kinds = ["test", "plan", "deploy", "smoke"], actions = ["s3:GetObject", "s3:GetObjectVersion"], resources = ["${aws_s3_bucket.artifacts.arn}/*"], condition = "none" }
        ArtifactBucket      = { kinds = ["test", "plan", "deploy", "smoke"], actions = ["s3:GetBucketAcl", "s3:GetBucketLocation"], resources = [aws_s3_bucket.artifacts.arn], condition = "none" }
        ArtifactKey         = { kinds = ["test", "plan", "deploy", "smoke"], actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"], resources = [aws_kms_key.cicd.arn], condition = "none" }
        WriteOutputArtifact = { kinds = ["plan", "deploy"], actions = ["s3:PutObject"], resources = ["${aws_s3_bucket.artifacts.arn}/*"], condition = "none" }
        # Terraform's S3 backend, for the stage's state only: plan reads it and takes the lock
        # (<key>.tflock); deploy also writes it.
        StateBucket = { kinds = ["plan", "deploy"], actions = ["s3:ListBucket"], resources = [local.state_bucket_arn], condition = "none" }
        StateRead   = { kinds = ["plan", "deploy"], actions = ["s3:GetObject"], resources = [try(local.state_objects[build.stage], "")], condition = "none" }
        StateLock   = { kinds = ["plan", "deploy"], actions = ["s3:PutObject", "s3:DeleteObject"], resources = ["${try(local.state_objects[build.stage], "")}.tflock"], condition = "none" }
        StateWrite  = { kinds = ["deploy"], actions = ["s3:PutObject"], resources = [try(local.state_objects[build.stage], "")], condition = "none" }
        SavePlan    = { kinds = ["plan"], actions = ["s3:PutObject"], resources = [try(local.saved_plans[build.stage], "")], condition = "none" }
        StateKey    = { kinds = var.state_kms_key_arn != null ? ["plan", "deploy"] : [], actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"], resources = [coalesce(var.state_kms_key_arn, "unused")], condition = "none" }
        # The smoke test's own key (make smoke-deployed: dofs_ops keys create smoke --replace). It
        # finds the stage's usage plan and client smoke's key by name: list calls, on which AWS
        # evaluates no resource tag. It creates a key only with the stage's tags and Client=smoke,
        # adds it to a usage plan of the stage's tags, and deletes only a key tagged so; no other
        # client's key can it make, change or delete.
        FindApiKeys    = { kinds = ["smoke"], actions = ["apigateway:GET"], resources = ["${local.apigw}/usageplans", "${local.apigw}/apikeys"], condition = "none" }
        CreateSmokeKey = { kinds = ["smoke"], actions = ["apigateway:POST"], resources = ["${local.apigw}/apikeys"], condition = "${coalesce(build.stage, "-")}/smoke_key_request" }
        TagSmokeKey    = { kinds = ["smoke"], actions = ["apigateway:PUT"], resources = ["${local.apigw}/tags/*"], condition = "${coalesce(build.stage, "-")}/smoke_key_request" }
        AddSmokeKey    = { kinds = ["smoke"], actions = ["apigateway:POST"], resources = ["${local.apigw}/usageplans/*/keys"], condition = "${coalesce(build.stage, "-")}/stage_resource" }
        DeleteSmokeKey = { kinds = ["smoke"], actions = ["apigateway:DELETE"], resources = ["${local.apigw}/apikeys/*"], condition = "${coalesce(build.stage, "-")}/smoke_key" }
      } : sid => statement if contains(statement.kinds, build.kind)
    }
  }

  # The stage's access, policy by policy (managed policies: 6,144 characters each at most).
  #   read           what terraform plan's refresh reads (plan and deploy);
  #   write-data     create/change/delete tables, queues, workflow, functions, log groups;
  #   write-roles    the stage's roles, only with the stage boundary;
  #   write-control  API, alarms, dashboard, topic and its key.
  # tests/infra/policy_analysis.py ALLOWED lists each finding of parliament/cloudsplaining
  # left here, with the reason given in the comment next to its statement.
  stage_statements = {
    for stage in var.stages : stage => {
      read = {
        # Read-only wildcards: the account-level calls they also name need "*", so these scoped
        # statements grant only the reads of the stage's own resources.
        Tables              = { effect = "Allow", actions = ["dynamodb:Describe*", "dynamodb:ListTagsOfResource"], resources = local.stage_arns[stage].tables, condition = "none" }
        Queues              = { effect = "Allow", actions = ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags", "sqs:ListDeadLetterSourceQueues"], resources = local.stage_arns[stage].queues, condition = "none" }
        StateMachines       = { effect = "Allow", actions = ["states:Describe*", "states:List*"], resources = local.stage_arns[stage].state_machines, condition = "none" }
        Functions           = { effect = "Allow", actions = ["lambda:Get*", "lambda:List*"], resources = local.stage_arns[stage].functions, condition = "none" }
        EventSourceMappings = { effect = "Allow", actions = ["lambda:GetEventSourceMapping", "lambda:ListTags"], resources = local.stage_arns[stage].event_source_mappings, condition = "none" }
        Roles               = { effect = "Allow", actions = ["iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole"], resources = local.stage_arns[stage].roles, condition = "none" }
        Api                 = { effect = "Allow", actions = ["apigateway:GET"], resources = local.stage_arns[stage].api_resources, condition = "${stage}/stage_resource" }
        ApiAccount          = { effect = "Allow", actions = ["apigateway:GET"], resources = ["${local.apigw}/account"], condition = "none" }
        LogGroups           = { effect = "Allow", actions = ["logs:ListTagsLogGroup", "logs:ListTagsForResource"], resources = local.stage_arns[stage].log_groups, condition = "none" }
        # These calls support no resource-level permissions: AWS requires "*".
        List         = { effect = "Allow", actions = ["lambda:ListEventSourceMappings", "logs:DescribeLogGroups", "logs:DescribeResourcePolicies", "logs:GetLogDelivery", "logs:ListLogDeliveries", "kms:ListAliases", "sts:GetCallerIdentity"], resources = ["*"], condition = "none" }
        DescribeKeys = { effect = "Allow", actions = ["kms:DescribeKey"], resources = local.stage_arns[stage].keys, condition = "none" } # AWS-managed or given keys too
        TopicKey     = { effect = "Allow", actions = ["kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"], resources = local.stage_arns[stage].keys, condition = "${stage}/stage_resource" }
        Alarms       = { effect = "Allow", actions = ["cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"], resources = local.stage_arns[stage].alarms, condition = "none" }
        Dashboards   = { effect = "Allow", actions = ["cloudwatch:GetDashboard"], resources = local.stage_arns[stage].dashboards, condition = "none" }
        Topics       = { effect = "Allow", actions = ["sns:Get*", "sns:List*"], resources = local.stage_arns[stage].topics, condition = "none" }
        Rules        = { effect = "Allow", actions = ["events:DescribeRule", "events:ListTagsForResource", "events:ListTargetsByRule"], resources = local.stage_arns[stage].rules, condition = "none" }
        # The stage's X-Ray sampling rule; xray:GetSamplingRules names no resource: AWS requires "*".
        SamplingRules    = { effect = "Allow", actions = ["xray:ListTagsForResource"], resources = local.stage_arns[stage].sampling_rules, condition = "none" }
        ListSamplingRule = { effect = "Allow", actions = ["xray:GetSamplingRules"], resources = ["*"], condition = "none" }
        # The Powertools layer's public parameter, which infra/stage reads at every plan. An AWS
        # public parameter's ARN has no account, which parliament's ARN format misses.
        PowertoolsLayerParameter = { effect = "Allow", actions = ["ssm:GetParameter"], resources = local.stage_arns[stage].powertools_parameters, condition = "none" }
      }
      write-data = {
        Tables        = { effect = "Allow", actions = ["dynamodb:CreateTable", "dynamodb:UpdateTable", "dynamodb:DeleteTable", "dynamodb:UpdateContinuousBackups", "dynamodb:UpdateTimeToLive", "dynamodb:TagResource", "dynamodb:UntagResource"], resources = local.stage_arns[stage].tables, condition = "none" }
        Queues        = { effect = "Allow", actions = ["sqs:CreateQueue", "sqs:DeleteQueue", "sqs:SetQueueAttributes", "sqs:TagQueue", "sqs:UntagQueue"], resources = local.stage_arns[stage].queues, condition = "none" }
        StateMachines = { effect = "Allow", actions = ["states:CreateStateMachine", "states:UpdateStateMachine", "states:DeleteStateMachine", "states:TagResource", "states:UntagResource"], resources = local.stage_arns[stage].state_machines, condition = "none" }
        # Step Functions' vended logs: AWS requires "*" for these.
        WorkflowLogDelivery = { effect = "Allow", actions = ["states:ValidateStateMachineDefinition", "logs:CreateLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery", "logs:PutResourcePolicy"], resources = ["*"], condition = "none" }
        Functions           = { effect = "Allow", actions = ["lambda:CreateFunction", "lambda:DeleteFunction", "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration", "lambda:PublishVersion", "lambda:AddPermission", "lambda:RemovePermission", "lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency", "lambda:TagResource", "lambda:UntagResource"], resources = local.stage_arns[stage].functions, condition = "none" }
        # CreateFunction and UpdateFunctionConfiguration with layers: AWS checks the caller may
        # read each layer version.
        Layers = { effect = "Allow", actions = ["lambda:GetLayerVersion"], resources = local.stage_arns[stage].powertools_layers, condition = "none" }
        # Event source mapping ARNs carry random ids: the function they feed scopes them.
        EventSourceMappings = { effect = "Allow", actions = ["lambda:CreateEventSourceMapping", "lambda:UpdateEventSourceMapping", "lambda:DeleteEventSourceMapping"], resources = ["*"], condition = "${stage}/stage_functions" }
        # default_tags tags the mappings on create.
        TagEventSourceMappings   = { effect = "Allow", actions = ["lambda:TagResource"], resources = local.stage_arns[stage].event_source_mappings, condition = "${stage}/stage_request" }
        UntagEventSourceMappings = { effect = "Allow", actions = ["lambda:UntagResource"], resources = local.stage_arns[stage].event_source_mappings, condition = "${stage}/stage_resource" }
        LogGroups                = { effect = "Allow", actions = ["logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy", "logs:AssociateKmsKey", "logs:DisassociateKmsKey", "logs:TagLogGroup", "logs:UntagLogGroup", "logs:TagResource", "logs:UntagResource"], resources = local.stage_arns[stage].log_groups, condition = "none" }
      }
      write-roles = {
        # StringEquals, as in AWS's examples for iam:PermissionsBoundary (parliament: "usable").
        # Without the boundary, a role the Deploy role writes could be given
        # any permission and passed to a function it creates. Every call that sets a role's
        # permissions requires the stage boundary on that role.
        BoundedRoles = { effect = "Allow", actions = ["iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary"], resources = local.stage_arns[stage].roles, condition = "${stage}/boundary" }
        # Calls that change no permission (iam:PermissionsBoundary does not apply to them).
        Roles                 = { effect = "Allow", actions = ["iam:DeleteRole", "iam:UpdateRole", "iam:UpdateAssumeRolePolicy", "iam:TagRole", "iam:UntagRole"], resources = local.stage_arns[stage].roles, condition = "none" }
        KeepBoundary          = { effect = "Deny", actions = ["iam:DeleteRolePermissionsBoundary"], resources = ["*"], condition = "none" }
        KeepBoundaryPolicy    = { effect = "Deny", actions = ["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion"], resources = [for boundary in aws_iam_policy.stage_boundary : boundary.arn], condition = "none" }
        PassStageRoles        = { effect = "Allow", actions = ["iam:PassRole"], resources = local.stage_arns[stage].roles, condition = "${stage}/passed_to_stage_services" }
        AttachManagedPolicies = { effect = "Allow", actions = ["iam:AttachRolePolicy"], resources = local.stage_arns[stage].roles, condition = "${stage}/boundary_and_attachable", enabled = length(var.stage_managed_policy_arns) > 0 }
      }
      write-control = {
        # The stage's API, key and usage plan only, by its tags.
        CreateApi     = { effect = "Allow", actions = ["apigateway:POST", "apigateway:PUT"], resources = local.stage_arns[stage].api_collections, condition = "${stage}/stage_request" }
        Api           = { effect = "Allow", actions = ["apigateway:GET", "apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE"], resources = local.stage_arns[stage].api_resources, condition = "${stage}/stage_resource" }
        Alarms        = { effect = "Allow", actions = ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:TagResource", "cloudwatch:UntagResource"], resources = local.stage_arns[stage].alarms, condition = "none" }
        Dashboards    = { effect = "Allow", actions = ["cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards"], resources = local.stage_arns[stage].dashboards, condition = "none" }
        Rules         = { effect = "Allow", actions = ["events:PutRule", "events:DeleteRule", "events:PutTargets", "events:RemoveTargets", "events:TagResource", "events:UntagResource"], resources = local.stage_arns[stage].rules, condition = "none" }
        SamplingRules = { effect = "Allow", actions = ["xray:CreateSamplingRule", "xray:UpdateSamplingRule", "xray:DeleteSamplingRule", "xray:TagResource", "xray:UntagResource"], resources = local.stage_arns[stage].sampling_rules, condition = "none" }
        # Subscription ARNs are the topic's ARN plus an id: the topic pattern covers them.
        Topics = { effect = "Allow", actions = ["sns:CreateTopic", "sns:DeleteTopic", "sns:SetTopicAttributes", "sns:TagResource", "sns:UntagResource", "sns:Subscribe", "sns:Unsubscribe", "sns:SetSubscriptionAttributes"], resources = local.stage_arns[stage].topics, condition = "none" }
        # The alarm topic's key. CreateKey has no resource: AWS requires
        # "*"; the key must carry the stage's tags from its creation (tag-on-create needs TagResource).
        CreateTopicKey = { effect = "Allow", actions = ["kms:CreateKey", "kms:TagResource"], resources = ["*"], condition = "${stage}/stage_request" }
        # CreateAlias/DeleteAlias/UpdateAlias need the key and the alias: one statement per type.
        TopicKey      = { effect = "Allow", actions = ["kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource", "kms:UpdateKeyDescription", "kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"], resources = local.stage_arns[stage].keys, condition = "${stage}/stage_resource" }
        TopicKeyAlias = { effect = "Allow", actions = ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"], resources = local.stage_arns[stage].key_aliases, condition = "none" }
      }
    }
  }

  # Which kind of build role gets which of its stage's policies.
  stage_policies_of_kind = { plan = ["read"], deploy = ["read", "write-data", "write-roles", "write-control"] }
  stage_policy_attachments = merge([
    for key, build in local.builds : {
      for policy in lookup(local.stage_policies_of_kind, build.kind, []) : "${key}-${policy}" => { build = key, policy = "${build.stage}-${policy}" }
    }
  ]...)
  stage_policies = merge([
    for stage, policies in local.stage_statements : { for name, statements in policies : "${stage}-${name}" => { stage = stage, name = name, statements = statements } }
  ]...)
}

# Both kinds of build policy as one map, rendered by one block: "<build>" => the build's inline
# policy, "stage-<stage>-<name>" => a stage policy; each { sid => { effect, actions, resources, condition } }.
locals {
  build_policies = merge(
    {
      for build, statements in local.build_statements : build => {
        for sid, statement in statements : sid => {
          effect    = "Allow"
          actions   = statement.actions
          resources = statement.resources
          condition = statement.condition
        }
      }
    },
    {
      for key, policy in local.stage_policies : "stage-${key}" => {
        for sid, statement in policy.statements : sid => {
          effect    = statement.effect
          actions   = statement.actions
          resources = statement.resources
          condition = statement.condition
        } if try(statement.enabled, true)
      }
    },
  )
}

data "aws_iam_policy_document" "builds" {
  for_each = local.build_policies

  dynamic "statement" {
    for_each = each.value

    content {
      sid       = statement.key
      effect    = statement.value.effect
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = local.conditions[statement.value.condition]

        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}

resource "aws_iam_role_policy" "codebuild" {
  for_each = local.builds

  name   = "build"
  role   = aws_iam_role.codebuild[each.key].id
  policy = data.aws_iam_policy_document.builds[each.key].json
}

resource "aws_iam_policy" "stage" {
  for_each = local.stage_policies

  name        = "${local.prefix}-${each.value.stage}-stage-${each.value.name}"
  description = "${each.value.name} of ${local.stage_prefixes[each.value.stage]} for the stage's builds (infra/cicd/iam_roles.tf)."
  policy      = data.aws_iam_policy_document.builds["stage-${each.key}"].json
}

resource "aws_iam_role_policy_attachment" "stage" {
  for_each = local.stage_policy_attachments

  role       = aws_iam_role.codebuild[each.value.build].name
  policy_arn = aws_iam_policy.stage[each.value.policy].arn
}

# --- The permissions boundary of the stage's roles ---------------------------------------------
# Created here, by whoever applies infra/cicd, so that the Deploy role can neither write nor
# change it (its names start {app}-cicd-{stage}; KeepBoundaryPolicy denies new versions of any
# stage's boundary). One per stage. The
# Plan and Deploy builds pass it to the stage as TF_VAR_permissions_boundary_arn (codebuild.tf),
# and the stage's function, workflow and operator roles carry it. It allows at most what those roles do,
# on the stage's resources: tests/infra/test_pipeline_roles.py checks it covers their policies.
locals {
  boundary_statements = {
    for stage in var.stages : stage => {
      Tables    = { actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"], resources = local.stage_arns[stage].tables }
      Indexes   = { actions = ["dynamodb:Query"], resources = [for arn in local.stage_arns[stage].tables : "${arn}/index/*"] }
      Queues    = { actions = ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"], resources = local.stage_arns[stage].queues }
      Workflow  = { actions = ["states:StartExecution"], resources = local.stage_arns[stage].state_machines }
      Functions = { actions = ["lambda:InvokeFunction"], resources = concat(local.stage_arns[stage].functions, [for arn in local.stage_arns[stage].functions : "${arn}:*"]) }
      OwnLogs   = { actions = ["logs:CreateLogStream", "logs:PutLogEvents"], resources = local.stage_arns[stage].log_groups }
      # The operator roles (infra/modules/operator): dofs_ops show searches the logs, redrive
      # finds the queue, keys manages the clients' API keys on the stage's usage plan.
      OperatorReads        = { actions = ["dynamodb:BatchGetItem"], resources = local.stage_arns[stage].tables }
      OperatorLogs         = { actions = ["logs:FilterLogEvents"], resources = local.stage_arns[stage].log_groups }
      OperatorQueues       = { actions = ["sqs:GetQueueUrl"], resources = local.stage_arns[stage].queues }
      OperatorKeyLists     = { actions = ["apigateway:GET"], resources = ["${local.apigw}/apikeys", "${local.apigw}/usageplans"] }
      OperatorKeysCreate   = { actions = ["apigateway:POST"], resources = ["${local.apigw}/apikeys"], condition = "aws:RequestTag" }
      OperatorKeysTag      = { actions = ["apigateway:PUT"], resources = ["${local.apigw}/tags/*"], condition = "aws:RequestTag" }
      OperatorStageApiKeys = { actions = ["apigateway:GET", "apigateway:POST", "apigateway:DELETE"], resources = ["${local.apigw}/apikeys/*", "${local.apigw}/usageplans/*"], condition = "aws:ResourceTag" }
      # Step Functions' log delivery and X-Ray take no resource-level permissions: AWS requires "*".
      LogDelivery = { actions = ["logs:CreateLogDelivery", "logs:DeleteLogDelivery", "logs:DescribeLogGroups", "logs:DescribeResourcePolicies", "logs:GetLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:UpdateLogDelivery"], resources = ["*"] }
      Tracing     = { actions = ["xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:PutTelemetryRecords", "xray:PutTraceSegments"], resources = ["*"] }
    }
  }
}

data "aws_iam_policy_document" "stage_boundary" {
  for_each = local.boundary_statements

  dynamic "statement" {
    for_each = each.value

    content {
      sid       = statement.key
      actions   = statement.value.actions
      resources = statement.value.resources

      # API keys are account-wide: the stage's are those carrying its tags.
      dynamic "condition" {
        for_each = try(statement.value.condition, null) == null ? {} : local.stage_tags[each.key]

        content {
          test     = "StringEquals"
          variable = "${statement.value.condition}/${condition.key}"
          values   = [condition.value]
        }
      }
    }
  }
}

resource "aws_iam_policy" "stage_boundary" {
  for_each = local.stage_prefixes

  name        = "${local.prefix}-${each.key}-stage-boundary"
  description = "Permissions boundary of every role of ${each.value}: the most its functions and workflow may do."
  policy      = data.aws_iam_policy_document.stage_boundary[each.key].json
}

# --- EventBridge starts the pipeline on CodeCommit pushes --------------------------------------

resource "aws_iam_role" "events" {
  count = local.use_github ? 0 : 1

  name               = "${local.prefix}-events"
  assume_role_policy = data.aws_iam_policy_document.assume["events"].json
}

data "aws_iam_policy_document" "events" {
  statement {
    sid       = "StartOwnPipeline"
    actions   = ["codepipeline:StartPipelineExecution"]
    resources = [local.pipeline_arn] # built from its name (main.tf)
  }
}

resource "aws_iam_role_policy" "events" {
  count = local.use_github ? 0 : 1

  name   = "start-pipeline"
  role   = aws_iam_role.events[0].id
  policy = data.aws_iam_policy_document.events.json
}
