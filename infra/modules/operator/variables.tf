variable "prefix" {
  description = "Prefix of the role names: {app}-{stage}."
  type        = string
}

variable "trusted_principal_arns" {
  description = "Principals allowed to assume the operator roles (IAM users, roles or SSO permission-set roles). Empty: the account itself, whose administrators then grant sts:AssumeRole to their operators."
  type        = list(string)
  default     = []
}

variable "orders_table_arn" {
  description = "ARN of the orders table."
  type        = string
}

variable "failed_orders_table_arn" {
  description = "ARN of the failed_orders table."
  type        = string
}

variable "index_arns" {
  description = "ARNs of the indexes `dofs_ops list` queries (open orders; dead-lettered orders)."
  type        = list(string)
}

variable "order_queue_arn" {
  description = "ARN of order_queue (a redrive queues the order again)."
  type        = string
}

variable "log_group_arns" {
  description = "ARNs of the log groups `dofs_ops show` searches: the workflow's and each function's (without the :* suffix)."
  type        = list(string)
}

variable "usage_plan_id" {
  description = "ID of the stage's API usage plan, to which `dofs_ops keys` adds client keys; null (no API): no keys statements."
  type        = string
  default     = null
}

variable "region" {
  description = "Region of the stage's API (API Gateway ARNs name it)."
  type        = string
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary set on both roles; null for none."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for both roles."
  type        = map(string)
  default     = {}
}
