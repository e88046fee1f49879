# Least privilege, role by role (README.md, "IAM"): the pipeline may only move artifacts and
# start its own builds; each build only reads its inputs, writes its own logs and outputs, and:
#   test   nothing else (make test is offline);
#   plan   reads the stage's resources and state, and takes/releases the state lock;
#   deploy also creates, changes and deletes resources named {app}-{stage}*, and writes state;
#   smoke  reads the value of the stage's API key.
# Resources are named wherever the AWS API allows it; "*" only where AWS requires it.

locals {
  arn    = "arn:${local.partition}"
  ra     = "${local.region}:${local.account_id}"
  apigw  = "${local.arn}:apigateway:${local.region}::"
  logs   = "${local.arn}:logs:${local.ra}:log-group"
  lambda = "${local.arn}:lambda:${local.ra}:function"

  # The stage's resources, by the naming rule {app}-{stage}... (the API handler is "{app}-{stage}").
  stage_arns = {
    tables         = ["${local.arn}:dynamodb:${local.ra}:table/${local.stage_prefix}-*"]
    queues         = ["${local.arn}:sqs:${local.ra}:${local.stage_prefix}-*"]
    state_machines = ["${local.arn}:states:${local.ra}:stateMachine:${local.stage_prefix}-*"]
    functions      = ["${local.lambda}:${local.stage_prefix}", "${local.lambda}:${local.stage_prefix}-*"]
    roles          = ["${local.arn}:iam::${local.account_id}:role/${local.stage_prefix}-*", "${local.arn}:iam::${local.account_id}:role/${local.stage_prefix}"]
    log_groups     = ["${local.logs}:*${local.stage_prefix}*"]
    alarms         = ["${local.arn}:cloudwatch:${local.ra}:alarm:${local.stage_prefix}-*"]
    dashboards     = ["${local.arn}:cloudwatch::${local.account_id}:dashboard/${local.stage_prefix}-*"]
    topics         = ["${local.arn}:sns:${local.ra}:${local.stage_prefix}-*"]
    # API Gateway ARNs carry ids, not names: the REST API, its keys and usage plans.
    apis = [
      "${local.apigw}/restapis", "${local.apigw}/restapis/*",
      "${local.apigw}/apikeys", "${local.apigw}/apikeys/*",
      "${local.apigw}/usageplans", "${local.apigw}/usageplans/*",
      "${local.apigw}/tags/*",
    ]
  }

  state_objects = "${local.state_bucket_arn}/${local.state_key_prefix}*"
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
    resources = [for project in aws_codebuild_project.build : project.arn]
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

# What every build needs: its own log group, its input artifacts, the artifact key; plus
# writing output artifacts for the builds that have one (plan, deploy).
data "aws_iam_policy_document" "codebuild_base" {
  for_each = local.builds

  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.build[each.key].arn}:*"]
  }

  statement {
    sid       = "ReadArtifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.artifacts.arn}/*"]
  }

  statement {
    sid       = "ArtifactBucket"
    actions   = ["s3:GetBucketAcl", "s3:GetBucketLocation"]
    resources = [aws_s3_bucket.artifacts.arn]
  }

  statement {
    sid       = "ArtifactKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = [aws_kms_key.cicd.arn]
  }

  dynamic "statement" {
    for_each = contains(["plan", "deploy"], each.key) ? [1] : []

    content {
      sid       = "WriteOutputArtifact"
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.artifacts.arn}/*"]
    }
  }

  # Terraform's S3 backend, for the stage's state only: plan reads it and takes the lock
  # (<key>.tflock); deploy also writes it.
  dynamic "statement" {
    for_each = contains(["plan", "deploy"], each.key) ? [1] : []

    content {
      sid       = "StateBucket"
      actions   = ["s3:ListBucket"]
      resources = [local.state_bucket_arn]
    }
  }

  dynamic "statement" {
    for_each = contains(["plan", "deploy"], each.key) ? [1] : []

    content {
      sid       = "StateRead"
      actions   = ["s3:GetObject"]
      resources = [local.state_objects]
    }
  }

  dynamic "statement" {
    for_each = contains(["plan", "deploy"], each.key) ? [1] : []

    content {
      sid       = "StateLock"
      actions   = ["s3:PutObject", "s3:DeleteObject"]
      resources = ["${local.state_objects}.tflock"]
    }
  }

  dynamic "statement" {
    for_each = each.key == "deploy" ? [1] : []

    content {
      sid       = "StateWrite"
      actions   = ["s3:PutObject"]
      resources = [local.state_objects]
    }
  }

  dynamic "statement" {
    for_each = contains(["plan", "deploy"], each.key) && var.state_kms_key_arn != null ? [1] : []

    content {
      sid       = "StateKey"
      actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]
      resources = [var.state_kms_key_arn]
    }
  }

  # The smoke test reads the value of the API key that Deploy reported (api_key_id output).
  dynamic "statement" {
    for_each = each.key == "smoke" ? [1] : []

    content {
      sid       = "ReadApiKey"
      actions   = ["apigateway:GET"]
      resources = ["${local.apigw}/apikeys/*"]
    }
  }
}

resource "aws_iam_role_policy" "codebuild" {
  for_each = local.builds

  name   = "build"
  role   = aws_iam_role.codebuild[each.key].id
  policy = data.aws_iam_policy_document.codebuild_base[each.key].json
}

# Reading the stage, as terraform plan's refresh does (plan and deploy).
data "aws_iam_policy_document" "stage_read" {
  statement {
    sid       = "Tables"
    actions   = ["dynamodb:Describe*", "dynamodb:ListTagsOfResource"]
    resources = local.stage_arns.tables
  }

  statement {
    sid       = "Queues"
    actions   = ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags", "sqs:ListDeadLetterSourceQueues"]
    resources = local.stage_arns.queues
  }

  statement {
    sid       = "StateMachines"
    actions   = ["states:Describe*", "states:List*"]
    resources = local.stage_arns.state_machines
  }

  statement {
    sid       = "Functions"
    actions   = ["lambda:Get*", "lambda:List*"] # read-only, on the stage's functions only
    resources = local.stage_arns.functions
  }

  statement {
    sid       = "EventSourceMappings" # their ARNs carry random ids, not names
    actions   = ["lambda:GetEventSourceMapping"]
    resources = ["${local.arn}:lambda:${local.ra}:event-source-mapping:*"]
  }

  statement {
    sid       = "Roles"
    actions   = ["iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole"]
    resources = local.stage_arns.roles
  }

  statement {
    sid       = "Api"
    actions   = ["apigateway:GET"]
    resources = concat(local.stage_arns.apis, ["${local.apigw}/account"])
  }

  statement {
    sid       = "LogGroups"
    actions   = ["logs:ListTagsLogGroup", "logs:ListTagsForResource"]
    resources = local.stage_arns.log_groups
  }

  statement {
    sid = "List" # these calls support no resource-level permissions
    actions = [
      "lambda:ListEventSourceMappings", "logs:DescribeResourcePolicies", "logs:GetLogDelivery", "logs:ListLogDeliveries",
      "kms:ListAliases", "sts:GetCallerIdentity",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "DescribeLogGroups" # lists by name prefix, so it needs the region's groups
    actions   = ["logs:DescribeLogGroups"]
    resources = ["${local.logs}:*"]
  }

  statement {
    sid       = "DescribeKeys" # the stage's resources may use AWS-managed or given keys
    actions   = ["kms:DescribeKey"]
    resources = ["${local.arn}:kms:${local.ra}:key/*"]
  }

  statement {
    sid       = "Alarms"
    actions   = ["cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"]
    resources = local.stage_arns.alarms
  }

  statement {
    sid       = "Dashboards"
    actions   = ["cloudwatch:GetDashboard"]
    resources = local.stage_arns.dashboards
  }

  statement {
    sid       = "Topics"
    actions   = ["sns:Get*", "sns:List*"]
    resources = local.stage_arns.topics
  }
}

resource "aws_iam_policy" "stage_read" {
  name        = "${local.prefix}-stage-read"
  description = "Read ${local.stage_prefix}: what terraform plan needs to refresh the stage."
  policy      = data.aws_iam_policy_document.stage_read.json
}

# Changing the stage (deploy only): data plane and compute.
data "aws_iam_policy_document" "stage_write_data" {
  statement {
    sid = "Tables"
    actions = [
      "dynamodb:CreateTable", "dynamodb:UpdateTable", "dynamodb:DeleteTable", "dynamodb:UpdateContinuousBackups",
      "dynamodb:UpdateTimeToLive", "dynamodb:TagResource", "dynamodb:UntagResource",
    ]
    resources = local.stage_arns.tables
  }

  statement {
    sid       = "Queues"
    actions   = ["sqs:CreateQueue", "sqs:DeleteQueue", "sqs:SetQueueAttributes", "sqs:TagQueue", "sqs:UntagQueue"]
    resources = local.stage_arns.queues
  }

  statement {
    sid       = "StateMachines"
    actions   = ["states:CreateStateMachine", "states:UpdateStateMachine", "states:DeleteStateMachine", "states:TagResource", "states:UntagResource"]
    resources = local.stage_arns.state_machines
  }

  statement {
    sid = "WorkflowLogDelivery" # Step Functions' vended logs: AWS requires "*" for these
    actions = [
      "states:ValidateStateMachineDefinition",
      "logs:CreateLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery", "logs:PutResourcePolicy",
    ]
    resources = ["*"]
  }

  statement {
    sid = "Functions"
    actions = [
      "lambda:CreateFunction", "lambda:DeleteFunction", "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration",
      "lambda:PublishVersion", "lambda:AddPermission", "lambda:RemovePermission", "lambda:PutFunctionConcurrency",
      "lambda:DeleteFunctionConcurrency", "lambda:TagResource", "lambda:UntagResource",
    ]
    resources = local.stage_arns.functions
  }

  statement {
    sid       = "EventSourceMappings"
    actions   = ["lambda:CreateEventSourceMapping", "lambda:UpdateEventSourceMapping", "lambda:DeleteEventSourceMapping"]
    resources = ["*"]

    condition {
      test     = "ArnLike"
      variable = "lambda:FunctionArn"
      values   = local.stage_arns.functions
    }
  }

  statement {
    sid = "LogGroups"
    actions = [
      "logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy",
      "logs:AssociateKmsKey", "logs:DisassociateKmsKey", "logs:TagLogGroup", "logs:UntagLogGroup", "logs:TagResource", "logs:UntagResource",
    ]
    resources = local.stage_arns.log_groups
  }
}

resource "aws_iam_policy" "stage_write_data" {
  name        = "${local.prefix}-stage-write-data"
  description = "Create, change and delete the tables, queues, workflow, functions and log groups of ${local.stage_prefix}."
  policy      = data.aws_iam_policy_document.stage_write_data.json
}

# Changing the stage (deploy only): roles, API, alarms, topics.
data "aws_iam_policy_document" "stage_write_control" {
  statement {
    sid = "Roles"
    actions = [
      "iam:CreateRole", "iam:DeleteRole", "iam:UpdateRole", "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy",
      "iam:DeleteRolePolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:TagRole", "iam:UntagRole",
    ]
    resources = local.stage_arns.roles
  }

  statement {
    sid       = "PassStageRoles"
    actions   = ["iam:PassRole"]
    resources = local.stage_arns.roles

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["lambda.amazonaws.com", "states.amazonaws.com", "apigateway.amazonaws.com"]
    }
  }

  statement {
    sid       = "Api"
    actions   = ["apigateway:GET", "apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE"]
    resources = local.stage_arns.apis
  }

  statement {
    sid       = "Alarms"
    actions   = ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:TagResource", "cloudwatch:UntagResource"]
    resources = local.stage_arns.alarms
  }

  statement {
    sid       = "Dashboards"
    actions   = ["cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards"]
    resources = local.stage_arns.dashboards
  }

  statement {
    sid = "Topics"
    actions = [
      "sns:CreateTopic", "sns:DeleteTopic", "sns:SetTopicAttributes", "sns:TagResource", "sns:UntagResource",
      "sns:Subscribe", "sns:Unsubscribe", "sns:SetSubscriptionAttributes",
    ]
    resources = local.stage_arns.topics
  }
}

resource "aws_iam_policy" "stage_write_control" {
  name        = "${local.prefix}-stage-write-control"
  description = "Create, change and delete the roles, API, alarms, dashboard and topic of ${local.stage_prefix}."
  policy      = data.aws_iam_policy_document.stage_write_control.json
}

locals {
  stage_policies = {
    "plan-read"            = { role = "plan", policy = aws_iam_policy.stage_read.arn }
    "deploy-read"          = { role = "deploy", policy = aws_iam_policy.stage_read.arn }
    "deploy-write-data"    = { role = "deploy", policy = aws_iam_policy.stage_write_data.arn }
    "deploy-write-control" = { role = "deploy", policy = aws_iam_policy.stage_write_control.arn }
  }
}

resource "aws_iam_role_policy_attachment" "stage" {
  for_each = local.stage_policies

  role       = aws_iam_role.codebuild[each.value.role].name
  policy_arn = each.value.policy
}

# --- EventBridge starts the pipeline on CodeCommit pushes --------------------------------------

resource "aws_iam_role" "events" {
  count = local.use_github ? 0 : 1

  name               = "${local.prefix}-events"
  assume_role_policy = data.aws_iam_policy_document.assume["events"].json
}

data "aws_iam_policy_document" "events" {
  statement {
    actions   = ["codepipeline:StartPipelineExecution"]
    resources = [aws_codepipeline.this.arn]
  }
}

resource "aws_iam_role_policy" "events" {
  count = local.use_github ? 0 : 1

  name   = "start-pipeline"
  role   = aws_iam_role.events[0].id
  policy = data.aws_iam_policy_document.events.json
}
