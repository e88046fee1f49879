variable "alarm_email" {
  description = "Address that receives alarm notifications (confirm the subscription e-mail); null for none."
  type        = string
  default     = null
}

variable "enable_monitoring" {
  description = "Create the alarm topic, alarms and dashboard (off only for the offline emulator run: see infra/README.md)."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of the Lambda, workflow and API log groups."
  type        = number
  default     = 30
}

variable "api_throttling_rate_limit" {
  description = "Steady-state requests per second the API stage and usage plan allow."
  type        = number
  default     = 50
}

variable "api_throttling_burst_limit" {
  description = "Request burst the API stage and usage plan allow."
  type        = number
  default     = 100
}

variable "point_in_time_recovery" {
  description = "Point-in-time recovery on both tables."
  type        = bool
  default     = true
}

variable "restrict_dlq_sources" {
  description = "Let only order_queue redrive into order_dlq (off only for the offline emulator run, which cannot store the policy)."
  type        = bool
  default     = true
}

variable "enable_api_gateway" {
  description = "Create the REST API with its stage, usage plan and key (off only for the offline emulator run, which cannot import Chalice's Swagger 2.0 body)."
  type        = bool
  default     = true
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary set on the roles created here (the pipeline's Deploy role may only create roles that carry it: infra/cicd); null for none."
  type        = string
  default     = null
}
