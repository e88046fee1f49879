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
