# The work queue and its dead-letter queue, both encrypted; only the work queue may redrive into the DLQ.
resource "aws_sqs_queue" "dlq" {
  name                       = var.dlq_name
  visibility_timeout_seconds = var.dlq_visibility_timeout_seconds
  message_retention_seconds  = var.dlq_retention_seconds
  receive_wait_time_seconds  = var.receive_wait_time_seconds
  sqs_managed_sse_enabled    = var.kms_key_id == null ? true : null
  kms_master_key_id          = var.kms_key_id
  tags                       = var.tags

  lifecycle {
    precondition {
      condition     = var.dlq_visibility_timeout_seconds >= 6 * var.dlq_consumer_timeout_seconds
      error_message = "dlq_visibility_timeout_seconds must be at least 6 x dlq_consumer_timeout_seconds."
    }
  }
}

resource "aws_sqs_queue" "queue" {
  name                       = var.queue_name
  visibility_timeout_seconds = var.visibility_timeout_seconds
  message_retention_seconds  = var.message_retention_seconds
  receive_wait_time_seconds  = var.receive_wait_time_seconds
  sqs_managed_sse_enabled    = var.kms_key_id == null ? true : null
  kms_master_key_id          = var.kms_key_id
  tags                       = var.tags

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })

  lifecycle {
    precondition {
      condition     = var.visibility_timeout_seconds >= 6 * var.consumer_timeout_seconds
      error_message = "visibility_timeout_seconds must be at least 6 x consumer_timeout_seconds."
    }
  }
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  count = var.restrict_dlq_sources ? 1 : 0

  queue_url = aws_sqs_queue.dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.queue.arn]
  })
}
