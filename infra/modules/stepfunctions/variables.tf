variable "name" {
  description = "Name of the state machine (and prefix of its role and log group)."
  type        = string
}

variable "type" {
  description = "Workflow type: EXPRESS (default, cheap, at-least-once) or STANDARD (exactly-once, long-running)."
  type        = string
  default     = "EXPRESS"

  validation {
    condition     = contains(["EXPRESS", "STANDARD"], var.type)
    error_message = "type must be EXPRESS or STANDARD."
  }
}

variable "definition_file" {
  description = "Path of the Amazon States Language template; its placeholders are filled by templatefile()."
  type        = string
}

variable "validate_order_arn" {
  description = "ARN of the ValidateOrder Lambda function."
  type        = string
}

variable "store_order_arn" {
  description = "ARN of the StoreOrder Lambda function."
  type        = string
}

variable "record_workflow_failure_arn" {
  description = "ARN of the RecordWorkflowFailure Lambda function."
  type        = string
}

variable "order_queue_url" {
  description = "URL of the queue the workflow sends accepted orders to."
  type        = string
}

variable "order_queue_arn" {
  description = "ARN of that queue (for the role's sqs:SendMessage)."
  type        = string
}

variable "log_level" {
  description = "Execution log level: ALL, ERROR, FATAL or OFF."
  type        = string
  default     = "ALL"

  validation {
    condition     = contains(["ALL", "ERROR", "FATAL", "OFF"], var.log_level)
    error_message = "log_level must be ALL, ERROR, FATAL or OFF."
  }
}

variable "include_execution_data" {
  description = "Log each state's input and output (orders carry customer ids: off by default)."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Retention of the execution log group."
  type        = number
  default     = 30
}

variable "enable_xray" {
  description = "Trace executions with AWS X-Ray."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary set on the roles created here (the pipeline's Deploy role may only create roles that carry it: infra/cicd); null for none."
  type        = string
  default     = null
}
