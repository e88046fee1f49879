# Pipeline failures (and approval requests) go to an SNS topic: the one given in
# notification_topic_arn (e.g. the stage's alarm topic), or one this stack creates.

resource "aws_sns_topic" "notifications" {
  count = local.create_topic ? 1 : 0

  name              = "${local.prefix}-notifications"
  kms_master_key_id = aws_kms_key.cicd.arn
}

resource "aws_sns_topic_subscription" "email" {
  count = local.create_topic && var.notification_email != null ? 1 : 0

  topic_arn = aws_sns_topic.notifications[0].arn
  protocol  = "email"
  endpoint  = var.notification_email
}

# Only this stack's failure rule may publish (besides the account itself). A topic given in
# notification_topic_arn needs the same statement in its own policy: see README.md.
data "aws_iam_policy_document" "notifications" {
  statement {
    sid       = "AccountPublishes"
    actions   = ["sns:Publish", "sns:Subscribe", "sns:GetTopicAttributes"]
    resources = [local.topic_arn]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "PipelineFailureRulePublishes"
    actions   = ["sns:Publish"]
    resources = [local.topic_arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.pipeline_failed.arn]
    }
  }
}

resource "aws_sns_topic_policy" "notifications" {
  count = local.create_topic ? 1 : 0

  arn    = aws_sns_topic.notifications[0].arn
  policy = data.aws_iam_policy_document.notifications.json
}

resource "aws_cloudwatch_event_rule" "pipeline_failed" {
  name        = "${local.prefix}-failed"
  description = "A run of the ${local.prefix} pipeline failed."

  event_pattern = jsonencode({
    source        = ["aws.codepipeline"]
    "detail-type" = ["CodePipeline Pipeline Execution State Change"]
    resources     = [local.pipeline_arn] # built from its name (main.tf), so the topic policy is known without the pipeline
    detail = {
      state = ["FAILED"]
    }
  })
}

resource "aws_cloudwatch_event_target" "pipeline_failed" {
  rule      = aws_cloudwatch_event_rule.pipeline_failed.name
  target_id = "sns"
  arn       = local.topic_arn

  input_transformer {
    input_paths = {
      pipeline  = "$.detail.pipeline"
      execution = "$.detail.execution-id"
      state     = "$.detail.state"
      time      = "$.time"
    }
    input_template = "\"Pipeline <pipeline> execution <execution> is <state> (<time>). Open CodePipeline in ${local.region} and read the failed stage's build log.\""
  }
}

# CodeCommit source: EventBridge starts the pipeline on pushes to the branch.
resource "aws_cloudwatch_event_rule" "codecommit_push" {
  count = local.use_github ? 0 : 1

  name        = "${local.prefix}-push"
  description = "A push to ${var.branch} starts the ${local.prefix} pipeline."

  event_pattern = jsonencode({
    source        = ["aws.codecommit"]
    "detail-type" = ["CodeCommit Repository State Change"]
    resources     = [local.codecommit_arn]
    detail = {
      event         = ["referenceCreated", "referenceUpdated"]
      referenceType = ["branch"]
      referenceName = [var.branch]
    }
  })
}

resource "aws_cloudwatch_event_target" "codecommit_push" {
  count = local.use_github ? 0 : 1

  rule     = aws_cloudwatch_event_rule.codecommit_push[0].name
  arn      = aws_codepipeline.this.arn
  role_arn = aws_iam_role.events[0].arn
}
