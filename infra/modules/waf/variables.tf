variable "name" {
  description = "Name of the web ACL and prefix of its metrics (the stage's prefix, e.g. dofs-prod)."
  type        = string
}

variable "resource_arn" {
  description = "ARN of the API Gateway REST API stage the web ACL protects (arn:PARTITION:apigateway:REGION::/restapis/ID/stages/NAME)."
  type        = string
}

variable "rate_limit_per_5_minutes" {
  description = "Requests one client IP may send in any 5-minute window before the rate-based rule blocks it (AWS WAF's minimum is 10)."
  type        = number
  default     = 2000

  validation {
    condition     = var.rate_limit_per_5_minutes >= 10 && var.rate_limit_per_5_minutes <= 2000000000
    error_message = "rate_limit_per_5_minutes must be between 10 and 2,000,000,000 (AWS WAF's range)."
  }
}

variable "log_retention_days" {
  description = "Days the web ACL's log group keeps blocked and counted requests."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags added to the web ACL and its log group."
  type        = map(string)
  default     = {}
}
