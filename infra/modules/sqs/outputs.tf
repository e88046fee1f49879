output "queue_url" {
  description = "URL of the work queue."
  value       = aws_sqs_queue.queue.id
}

output "queue_arn" {
  description = "ARN of the work queue."
  value       = aws_sqs_queue.queue.arn
}

output "queue_name" {
  description = "Name of the work queue."
  value       = aws_sqs_queue.queue.name
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = aws_sqs_queue.dlq.id
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

output "dlq_name" {
  description = "Name of the dead-letter queue."
  value       = aws_sqs_queue.dlq.name
}
