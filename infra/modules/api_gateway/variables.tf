variable "prefix" {
  description = "The stage's name prefix ({app}-{stage}): names the access log group and the usage plan."
  type        = string
}

variable "rest_api_id" {
  description = "Id of the REST API the stage serves (Chalice's, in the packaged app)."
  type        = string
}

variable "deployment_id" {
  description = "Id of the API deployment the stage points at (Chalice's, redeployed when the API's body changes)."
  type        = string
}

variable "stage_name" {
  description = "Name of the API stage: the first path segment of the API's URL (Chalice's is api)."
  type        = string
}

variable "throttling_rate_limit" {
  description = "Steady-state requests per second the stage allows, all clients and methods together (api_throttling_rate_limit)."
  type        = number

  validation {
    condition     = var.throttling_rate_limit > 0
    error_message = "throttling_rate_limit must be positive."
  }
}

variable "throttling_burst_limit" {
  description = "Burst of requests the stage allows, all clients and methods together (api_throttling_burst_limit)."
  type        = number

  validation {
    condition     = var.throttling_burst_limit >= 1 && floor(var.throttling_burst_limit) == var.throttling_burst_limit
    error_message = "throttling_burst_limit must be a whole number, at least 1."
  }
}

variable "client_rate_limit" {
  description = "Steady-state requests per second each client's API key may make (the usage plan's throttle; api_client_rate_limit)."
  type        = number

  validation {
    condition     = var.client_rate_limit > 0
    error_message = "client_rate_limit must be positive."
  }
}

variable "client_burst_limit" {
  description = "Burst of requests each client's API key may make (the usage plan's throttle; api_client_burst_limit)."
  type        = number

  validation {
    condition     = var.client_burst_limit >= 1 && floor(var.client_burst_limit) == var.client_burst_limit
    error_message = "client_burst_limit must be a whole number, at least 1."
  }
}

variable "client_quota_per_day" {
  description = "Requests each client's API key may make a day (the usage plan's quota; api_client_quota_per_day); null for no quota."
  type        = number
  default     = null

  validation {
    condition     = var.client_quota_per_day == null || try(var.client_quota_per_day >= 1 && floor(var.client_quota_per_day) == var.client_quota_per_day, false)
    error_message = "client_quota_per_day must be null (no quota) or a whole number, at least 1."
  }
}

variable "access_log_retention_days" {
  description = "Days the access log group keeps its events."
  type        = number
}

variable "logging_level" {
  description = "Execution logging of every method: OFF, ERROR or INFO (any but OFF needs API Gateway's account CloudWatch role: infra/bootstrap sets it)."
  type        = string
  default     = "ERROR"

  validation {
    condition     = contains(["OFF", "ERROR", "INFO"], var.logging_level)
    error_message = "logging_level must be OFF, ERROR or INFO."
  }
}

variable "enable_xray" {
  description = "Trace the stage's requests with X-Ray."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to the stage, the log group and the usage plan."
  type        = map(string)
  default     = {}
}
