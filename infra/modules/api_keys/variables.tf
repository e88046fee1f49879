variable "rest_api_id" {
  description = "Id of the REST API whose methods require an API key (Chalice routes with api_key_required=True)."
  type        = string
}

variable "stage_name" {
  description = "Name of the API stage the usage plan covers."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of the usage plan's and the key's names, e.g. dofs-dev."
  type        = string
}

variable "key_name" {
  description = "Name of the API key (after the prefix), e.g. the client it is issued to."
  type        = string
  default     = "default"
}

variable "throttle_rate_limit" {
  description = "Steady-state requests per second allowed to each key."
  type        = number
  default     = 50

  validation {
    condition     = var.throttle_rate_limit > 0
    error_message = "throttle_rate_limit must be positive."
  }
}

variable "throttle_burst_limit" {
  description = "Burst of requests allowed to each key."
  type        = number
  default     = 100

  validation {
    condition     = var.throttle_burst_limit >= 1
    error_message = "throttle_burst_limit must be at least 1."
  }
}

variable "quota_limit" {
  description = "Requests each key may make per quota period."
  type        = number
  default     = 10000

  validation {
    condition     = var.quota_limit >= 1
    error_message = "quota_limit must be at least 1."
  }
}

variable "quota_period" {
  description = "Quota period: DAY, WEEK or MONTH."
  type        = string
  default     = "DAY"

  validation {
    condition     = contains(["DAY", "WEEK", "MONTH"], var.quota_period)
    error_message = "quota_period must be DAY, WEEK or MONTH."
  }
}

variable "tags" {
  description = "Tags added to the usage plan and the key."
  type        = map(string)
  default     = {}
}
