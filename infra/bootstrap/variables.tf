variable "region" {
  description = "Region of the state bucket (and of the API Gateway account settings)."
  type        = string
  default     = "us-east-1"
}

variable "bucket_prefix" {
  description = "The state bucket is named {bucket_prefix}-{account id}-{region}, unique across accounts."
  type        = string
  default     = "dofs-tfstate"
}

variable "noncurrent_version_expiration_days" {
  description = "Days an overwritten state version is kept."
  type        = number
  default     = 90
}

variable "manage_api_gateway_account" {
  description = "Give API Gateway (account-wide, per region) the role it needs to write access logs; off if another stack already manages it."
  type        = bool
  default     = true
}
