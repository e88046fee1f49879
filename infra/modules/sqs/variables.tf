variable "queue_name" {
  description = "Name of the work queue (order_queue)."
  type        = string
}

variable "dlq_name" {
  description = "Name of the dead-letter queue (order_dlq)."
  type        = string
}

variable "max_receive_count" {
  description = "Receives of one message before SQS moves it to the dead-letter queue."
  type        = number

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "visibility_timeout_seconds" {
  description = "Visibility timeout of the work queue; at least 6 x the consumer Lambda's timeout (AWS's advice for event source mappings)."
  type        = number
}

variable "consumer_timeout_seconds" {
  description = "Timeout of the Lambda function that consumes the work queue, as packaged; checked against visibility_timeout_seconds."
  type        = number
}

variable "dlq_visibility_timeout_seconds" {
  description = "Visibility timeout of the dead-letter queue; at least 6 x its consumer's timeout, as for the work queue."
  type        = number
}

variable "dlq_consumer_timeout_seconds" {
  description = "Timeout of the Lambda function that consumes the dead-letter queue, as packaged; checked against dlq_visibility_timeout_seconds."
  type        = number
}

variable "message_retention_seconds" {
  description = "How long the work queue keeps a message."
  type        = number
  default     = 345600
}

variable "dlq_retention_seconds" {
  description = "How long the dead-letter queue keeps a message (14 days, the maximum, by default)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.dlq_retention_seconds >= 60 && var.dlq_retention_seconds <= 1209600
    error_message = "dlq_retention_seconds must be between 60 and 1209600."
  }
}

variable "receive_wait_time_seconds" {
  description = "Long-polling wait of both queues."
  type        = number
  default     = 20
}

variable "restrict_dlq_sources" {
  description = "Allow only the work queue to use the DLQ as its dead-letter queue (redrive allow policy)."
  type        = bool
  default     = true
}

variable "kms_key_id" {
  description = "KMS key for SSE-KMS; null uses SQS-managed encryption (SSE-SQS), which needs no key policy."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to both queues."
  type        = map(string)
  default     = {}
}
