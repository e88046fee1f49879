variable "stage" {
  description = "The stage to plan: a stage of .chalice/config.json other than local (the emulator's), e.g. dev or prod; its settings are that stage's entry there."
  type        = string

  validation {
    condition     = var.stage != "local" && contains(keys(jsondecode(file("${path.module}/../../.chalice/config.json")).stages), var.stage)
    error_message = "stage must be a stage of .chalice/config.json other than local: ${join(", ", [for name in keys(jsondecode(file("${path.module}/../../.chalice/config.json")).stages) : name if name != "local"])}."
  }
}

variable "enable_monitoring" {
  description = "Create the alarm topic, alarms and dashboard (off only for the offline emulator run: see docs/TESTING.md)."
  type        = bool
  default     = true
}

variable "restrict_dlq_sources" {
  description = "Let only order_queue redrive into order_dlq (off only for the offline emulator run, which cannot store the policy)."
  type        = bool
  default     = true
}

variable "enable_api_gateway" {
  description = "Create the REST API, its stage and usage plan (off only for the offline emulator run, which cannot import Chalice's Swagger 2.0 body)."
  type        = bool
  default     = true
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary set on the roles created here (the pipeline's Deploy role may only create roles that carry it: infra/cicd); null for none."
  type        = string
  default     = null
}

variable "operator_principal_arns" {
  description = "Principals that may assume the stage's operator roles (dofs_ops); empty: the account, whose administrators grant sts:AssumeRole to their operators."
  type        = list(string)
  default     = []
}
