# Alarm topic, alarms and a dashboard for one stage.
#
# Dead letters: a DLQ drained by its handler stays near zero depth, and SQS does not count
# redriven messages in the DLQ's NumberOfMessagesSent, so the alarm that fires per dead-lettered
# order is on the handler's custom metric (Powertools EMF). A second alarm fires when the DLQ
# is not being drained (age of its oldest message).
locals {
  alarm_actions = [aws_sns_topic.alarms.arn]
  enable_api    = var.api_name != null
  create_key    = var.kms_master_key_id == null
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# The topic is encrypted with a key of its own: CloudWatch alarms cannot publish to a topic
# encrypted with the AWS managed key alias/aws/sns, whose policy cannot grant them.
data "aws_iam_policy_document" "topic_key" {
  count = local.create_key ? 1 : 0

  statement {
    # AWS's default key policy: the account's IAM policies decide who administers the key.
    # In a key policy "*" means this key.
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "topic" {
  count = local.create_key ? 1 : 0

  description             = "Encrypts the ${var.prefix}-alarms topic; CloudWatch alarms may publish to it."
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.topic_key[0].json
  tags                    = var.tags
}

resource "aws_kms_alias" "topic" {
  count = local.create_key ? 1 : 0

  name          = "alias/${var.prefix}-alarms"
  target_key_id = aws_kms_key.topic[0].key_id
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.prefix}-alarms"
  kms_master_key_id = local.create_key ? aws_kms_key.topic[0].arn : var.kms_master_key_id
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each = var.alarm_emails

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

# Every alarm, keyed by its name after the prefix. Each fires when its metric exceeds the
# threshold within one period; what differs between them is this table.
locals {
  # The workflow's terminal failures: ExecutionsFailed, ExecutionsTimedOut, ExecutionsAborted.
  workflow_failures = { for metric in ["ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"] :
    lower(trimprefix(metric, "Executions")) => metric
  }
  alarms = merge(
    {
      "orders-dead-lettered" = {
        description = "At least one order was dead-lettered: see the failed_orders table."
        namespace   = var.metrics_namespace
        metric_name = var.dead_lettered_metric
        dimensions  = { service = var.metrics_service }
        statistic   = "Sum"
        period      = 60
        threshold   = 0
      }
      "stuck-orders" = {
        description = "The reconciler found orders stuck past the threshold (a lost execution or message): see its log lines."
        namespace   = var.metrics_namespace
        metric_name = var.stuck_orders_metric
        dimensions  = { service = var.metrics_service }
        statistic   = "Sum"
        period      = 300
        threshold   = 0
      }
      "dlq-not-drained" = {
        description = "Messages wait on the dead-letter queue: its handler is failing."
        namespace   = "AWS/SQS"
        metric_name = "ApproximateAgeOfOldestMessage"
        dimensions  = { QueueName = var.order_dlq_name }
        statistic   = "Maximum"
        period      = 300
        threshold   = var.dlq_max_age_seconds
      }
    },
    { for handler, name in var.function_names : "${handler}-errors" => {
      description = "${name} raised unhandled errors."
      namespace   = "AWS/Lambda"
      metric_name = "Errors"
      dimensions  = { FunctionName = name }
      statistic   = "Sum"
      period      = 300
      threshold   = 0
    } },
    { for handler, name in var.function_names : "${handler}-throttles" => {
      description = "${name} was throttled."
      namespace   = "AWS/Lambda"
      metric_name = "Throttles"
      dimensions  = { FunctionName = name }
      statistic   = "Sum"
      period      = 300
      threshold   = 0
    } },
    { for outcome, metric in local.workflow_failures : "workflow-${outcome}" => {
      description = "Order workflow executions ended ${outcome}."
      namespace   = "AWS/States"
      metric_name = metric
      dimensions  = { StateMachineArn = var.state_machine_arn }
      statistic   = "Sum"
      period      = 300
      threshold   = 0
    } },
    # The limits that bite first (scripts/capacity.py models them): the order queue's backlog, and
    # DynamoDB's throttling of each table and index (a throttled index write throttles the table's).
    {
      "order-queue-age" = {
        description = "Orders wait on the order queue longer than ${var.order_queue_max_age_seconds} s: fulfillment is not keeping up; past the stuck threshold the reconciler queues them again."
        namespace   = "AWS/SQS"
        metric_name = "ApproximateAgeOfOldestMessage"
        dimensions  = { QueueName = var.order_queue_name }
        statistic   = "Maximum"
        period      = 60
        threshold   = var.order_queue_max_age_seconds
      }
    },
    { for alarm in flatten([
      for key, table in var.dynamodb_tables : [
        for kind in ["Read", "Write"] : {
          key = "${key}-${lower(kind)}-throttles", table = table, index = null, metric = "${kind}ThrottleEvents"
        }
      ]
      ]) : alarm.key => {
      description = "DynamoDB throttled ${lower(trimsuffix(alarm.metric, "ThrottleEvents"))}s of ${alarm.table}."
      namespace   = "AWS/DynamoDB"
      metric_name = alarm.metric
      dimensions  = { TableName = alarm.table }
      statistic   = "Sum"
      period      = 60
      threshold   = 0
    } },
    { for alarm in flatten([
      for key, index in var.dynamodb_indexes : [
        for kind in ["Read", "Write"] : { key = "${key}-${lower(kind)}-throttles", index = index, metric = "${kind}ThrottleEvents" }
      ]
      ]) : alarm.key => {
      description = "DynamoDB throttled ${lower(trimsuffix(alarm.metric, "ThrottleEvents"))}s of index ${alarm.index.index_name} of ${alarm.index.table_name} (a throttled index write throttles the table's)."
      namespace   = "AWS/DynamoDB"
      metric_name = alarm.metric
      dimensions  = { TableName = alarm.index.table_name, GlobalSecondaryIndexName = alarm.index.index_name }
      statistic   = "Sum"
      period      = 60
      threshold   = 0
    } },
    { for key, alarm in {
      # API Gateway publishes no 429 metric of its own: throttled requests (stage, usage plan or
      # account throttle, or the daily quota) are counted in 4XXError, whose Average is the share
      # of requests answered 4xx.
      "api-4xx-rate" = {
        description = "More than ${var.api_4xx_rate_threshold * 100} % of API requests were answered 4xx, 429 (throttled or over quota) among them: see the access log's status."
        namespace   = "AWS/ApiGateway"
        metric_name = "4XXError"
        dimensions  = { ApiName = var.api_name, Stage = var.api_stage_name }
        statistic   = "Average"
        period      = 300
        threshold   = var.api_4xx_rate_threshold
      }
      "api-5xx" = {
        description = "The order API answered with 5xx errors."
        namespace   = "AWS/ApiGateway"
        metric_name = "5XXError"
        dimensions  = { ApiName = var.api_name, Stage = var.api_stage_name }
        statistic   = "Sum"
        period      = 300
        threshold   = 0
      }
    } : key => alarm if local.enable_api },
  )
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.prefix}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = each.value.period
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = "${var.prefix}-orders"

  dashboard_body = jsonencode({
    widgets = concat(
      [
        {
          type = "metric", x = 0, y = 0, width = 12, height = 6
          properties = {
            title  = "Workflow executions"
            region = var.region
            stat   = "Sum"
            period = 300
            metrics = [
              for metric in ["ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut"] :
              ["AWS/States", metric, "StateMachineArn", var.state_machine_arn]
            ]
          }
        },
        {
          type = "metric", x = 12, y = 0, width = 12, height = 6
          properties = {
            title  = "Orders dead-lettered and DLQ age"
            region = var.region
            period = 300
            metrics = [
              [var.metrics_namespace, var.dead_lettered_metric, "service", var.metrics_service, { stat = "Sum" }],
              ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", var.order_dlq_name, { stat = "Maximum", yAxis = "right" }],
            ]
          }
        },
        {
          type = "metric", x = 0, y = 6, width = 12, height = 6
          properties = {
            title   = "Lambda errors"
            region  = var.region
            stat    = "Sum"
            period  = 300
            metrics = [for name in values(var.function_names) : ["AWS/Lambda", "Errors", "FunctionName", name]]
          }
        },
        {
          type = "metric", x = 12, y = 6, width = 12, height = 6
          properties = {
            title   = "Lambda throttles"
            region  = var.region
            stat    = "Sum"
            period  = 300
            metrics = [for name in values(var.function_names) : ["AWS/Lambda", "Throttles", "FunctionName", name]]
          }
        },
      ],
      [
        {
          type = "metric", x = 0, y = 18, width = 12, height = 6
          properties = {
            title   = "Order queue: age of the oldest message"
            region  = var.region
            stat    = "Maximum"
            period  = 60
            metrics = [["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", var.order_queue_name]]
            annotations = {
              horizontal = [{ label = "alarm", value = var.order_queue_max_age_seconds }]
            }
          }
        },
        {
          type = "metric", x = 12, y = 18, width = 12, height = 6
          properties = {
            title  = "DynamoDB throttled requests"
            region = var.region
            stat   = "Sum"
            period = 60
            metrics = [
              for pair in setproduct(["ReadThrottleEvents", "WriteThrottleEvents"], values(var.dynamodb_tables)) :
              ["AWS/DynamoDB", pair[0], "TableName", pair[1]]
            ]
          }
        },
      ],
      local.enable_api ? [
        {
          type = "metric", x = 0, y = 12, width = 24, height = 6
          properties = {
            title  = "API requests and errors"
            region = var.region
            stat   = "Sum"
            period = 300
            metrics = [
              for metric in ["Count", "4XXError", "5XXError"] :
              ["AWS/ApiGateway", metric, "ApiName", var.api_name, "Stage", var.api_stage_name]
            ]
          }
        },
      ] : [],
    )
  })
}
