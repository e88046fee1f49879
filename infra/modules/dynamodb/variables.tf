variable "tables" {
  description = "Tables to create: a logical key (used in the outputs) to the table's name."
  type        = map(string)

  validation {
    condition     = length(var.tables) > 0
    error_message = "Give at least one table."
  }
}

variable "hash_key" {
  description = "Name of the string partition key every table uses."
  type        = string
  default     = "order_id"
}

variable "point_in_time_recovery" {
  description = "Enable point-in-time recovery (continuous backups, 35 days)."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for encryption at rest; null uses the AWS managed key alias/aws/dynamodb."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Refuse DeleteTable while set (turn on for production stages)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every table."
  type        = map(string)
  default     = {}
}
