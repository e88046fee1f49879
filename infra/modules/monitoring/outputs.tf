output "topic_arn" {
  description = "ARN of the SNS topic every alarm notifies."
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  description = "Names of every alarm."
  value = concat(
    [aws_cloudwatch_metric_alarm.orders_dead_lettered.alarm_name, aws_cloudwatch_metric_alarm.dlq_not_drained.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.lambda_errors : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.lambda_throttles : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.workflow_failed : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.api_5xx : alarm.alarm_name],
  )
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
