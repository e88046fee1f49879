variable "prefix" {
  description = "Prefix of every alarm, topic and dashboard name: {app}-{stage}."
  type        = string
}

variable "region" {
  description = "Region the dashboard's widgets read metrics from."
  type        = string
}

variable "alarm_emails" {
  description = "Addresses subscribed to the alarm topic (each must confirm its subscription); none by default."
  type        = set(string)
  default     = []
}

variable "function_names" {
  description = "Handler name to deployed Lambda function name: each gets an errors and a throttles alarm."
  type        = map(string)
}

variable "state_machine_arn" {
  description = "ARN of the order workflow: failed, timed-out and aborted executions raise an alarm."
  type        = string
}

variable "order_dlq_name" {
  description = "Name of the dead-letter queue."
  type        = string
}

variable "order_queue_name" {
  description = "Name of the order queue: its oldest message's age raises an alarm."
  type        = string
}

variable "order_queue_max_age_seconds" {
  description = "Alarm when the order queue's oldest message is older than this: well before the stuck-order threshold, past which the reconciler queues the order again."
  type        = number

  validation {
    condition     = var.order_queue_max_age_seconds > 0
    error_message = "order_queue_max_age_seconds must be positive."
  }
}

variable "dynamodb_tables" {
  description = "Logical key to DynamoDB table name: each gets a read and a write throttles alarm."
  type        = map(string)
  default     = {}
}

variable "dynamodb_indexes" {
  description = "Alarm key to a global secondary index (table_name, index_name): each gets a read and a write throttles alarm."
  type        = map(object({ table_name = string, index_name = string }))
  default     = {}
}

variable "api_4xx_rate_threshold" {
  description = "Alarm when more than this share of API requests (0..1) in five minutes were answered 4xx, throttled (429) among them."
  type        = number
  default     = 0.05

  validation {
    condition     = var.api_4xx_rate_threshold > 0 && var.api_4xx_rate_threshold < 1
    error_message = "api_4xx_rate_threshold is a share of requests, between 0 and 1."
  }
}

variable "metrics_namespace" {
  description = "Namespace of the stage's custom metrics: the functions' POWERTOOLS_METRICS_NAMESPACE."
  type        = string
}

variable "metrics_service" {
  description = "Value of the 'service' dimension Powertools adds to every custom metric: the functions' POWERTOOLS_SERVICE_NAME, the stage's own."
  type        = string
}

variable "dead_lettered_metric" {
  description = "Custom metric the DLQ handler emits once per order it dead-letters."
  type        = string
  default     = "OrdersDeadLettered"
}

variable "stuck_orders_metric" {
  description = "Custom metric the reconciler emits each run: orders it found non-terminal past the stuck-order threshold."
  type        = string
  default     = "StuckOrdersFound"
}

variable "dlq_max_age_seconds" {
  description = "Alarm when the oldest message on the DLQ is older than this (its handler is not draining it)."
  type        = number
  default     = 900
}

variable "api_name" {
  description = "The stage's API Gateway REST API name (ApiName dimension: every stage's API needs its own); null skips the API alarm and widget."
  type        = string
  default     = null
}

variable "api_stage_name" {
  description = "API Gateway stage name (Stage dimension)."
  type        = string
  default     = "api"
}

variable "kms_master_key_id" {
  description = "KMS key encrypting the alarm topic; null creates one whose policy lets CloudWatch alarms publish (alias/aws/sns does not)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to the topic and alarms."
  type        = map(string)
  default     = {}
}
