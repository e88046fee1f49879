variable "prefix" {
  description = "Prefix of every role name: {app}-{stage}."
  type        = string
}

variable "function_names" {
  description = "Chalice handler name (api_handler, validate_order, store_order, record_workflow_failure, fulfill_order, handle_dead_letter, reconcile_orders) to deployed function name."
  type        = map(string)

  validation {
    condition = alltrue([
      for handler in ["api_handler", "validate_order", "store_order", "record_workflow_failure", "fulfill_order", "handle_dead_letter", "reconcile_orders"] :
      contains(keys(var.function_names), handler)
    ])
    error_message = "function_names must name every handler of the app."
  }
}

variable "log_group_arns" {
  description = "Handler name to the ARN of its function's log group (without the :* suffix)."
  type        = map(string)
}

variable "orders_table_arn" {
  description = "ARN of the orders table."
  type        = string
}

variable "orders_open_index_arn" {
  description = "ARN of the orders table's open-orders index (queried by the reconciler)."
  type        = string
}

variable "failed_orders_table_arn" {
  description = "ARN of the failed_orders table."
  type        = string
}

variable "order_queue_arn" {
  description = "ARN of order_queue (read by fulfill_order)."
  type        = string
}

variable "order_dlq_arn" {
  description = "ARN of order_dlq (read by handle_dead_letter)."
  type        = string
}

variable "state_machine_arn" {
  description = "ARN of the order workflow (started by api_handler)."
  type        = string
}

variable "enable_xray" {
  description = "Allow the functions to send X-Ray traces (set when the functions trace actively)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every role."
  type        = map(string)
  default     = {}
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary set on the roles created here (the pipeline's Deploy role may only create roles that carry it: infra/cicd); null for none."
  type        = string
  default     = null
}
