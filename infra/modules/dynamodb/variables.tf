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

variable "global_secondary_indexes" {
  description = "Global secondary indexes per table (by the tables' logical keys); every key attribute is a string."
  type = map(list(object({
    name            = string
    hash_key        = string
    range_key       = optional(string)
    projection_type = optional(string, "KEYS_ONLY")
  })))
  default = {}

  validation {
    condition     = alltrue([for key, _ in var.global_secondary_indexes : contains(keys(var.tables), key)])
    error_message = "Every key of global_secondary_indexes must be a key of tables."
  }

  validation {
    condition = alltrue(flatten([
      for indexes in values(var.global_secondary_indexes) : [
        for index in indexes : contains(["KEYS_ONLY", "ALL"], index.projection_type)
      ]
    ]))
    error_message = "projection_type is KEYS_ONLY or ALL (INCLUDE needs non-key attributes this module does not take)."
  }
}

variable "point_in_time_recovery" {
  description = "Enable point-in-time recovery (continuous backups, 35 days)."
  type        = bool
  default     = true
}

variable "ttl_attribute" {
  description = "Number attribute (epoch seconds) after which DynamoDB deletes an item (TTL), in every table; null: no TTL."
  type        = string
  default     = null
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
