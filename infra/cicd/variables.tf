variable "region" {
  description = "Region of the pipeline, its builds and the stages it deploys."
  type        = string
  default     = "us-east-1"

  # The pipeline's roles, state bucket and builds are in var.region, and so are the ARNs its
  # Plan and Deploy roles may touch: a stage elsewhere would be planned with no right to it.
  validation {
    condition     = alltrue([for stage in var.stages : try(local.chalice_config.stages[stage].dofs.region, var.region) == var.region])
    error_message = "Every stage the pipeline deploys must be in the pipeline's region (${var.region}); .chalice/config.json puts ${join(", ", [for stage in var.stages : "${stage} in ${try(local.chalice_config.stages[stage].dofs.region, var.region)}" if try(local.chalice_config.stages[stage].dofs.region, var.region) != var.region])}. Set region, or the stage's dofs.region."
  }
}

variable "app_name" {
  description = "Application name (app_name in .chalice/config.json): prefix of every name here and of the stage's resources."
  type        = string
  default     = "dofs"
}

variable "stages" {
  description = "Stages the pipeline promotes one commit through, in order (stages of .chalice/config.json with a backend file infra/stages/<stage>.s3.tfbackend): each is planned, approved (every stage after the first), deployed and smoke-tested."
  type        = list(string)
  default     = ["dev", "prod"]

  validation {
    condition     = length(var.stages) > 0 && length(distinct(var.stages)) == length(var.stages) && !contains(var.stages, "local") && !contains(var.stages, "cicd")
    error_message = "stages: at least one, each once; not local (the emulator's) nor cicd (this stack's names)."
  }
}

variable "source_provider" {
  description = "Where the pipeline takes the code from: \"GitHub\" (through a CodeConnections connection) or \"CodeCommit\"."
  type        = string
  default     = "GitHub"

  validation {
    condition     = contains(["GitHub", "CodeCommit"], var.source_provider)
    error_message = "source_provider must be \"GitHub\" or \"CodeCommit\"."
  }
}

variable "connection_arn" {
  description = "ARN of an AVAILABLE CodeStar/CodeConnections connection to GitHub. null: this stack creates one, which must then be completed by hand (README: Bootstrapping)."
  type        = string
  default     = null
}

variable "repository_id" {
  description = "GitHub repository as \"owner/name\" (source_provider = \"GitHub\")."
  type        = string
  default     = null
}

variable "codecommit_repository_name" {
  description = "Name of the CodeCommit repository (source_provider = \"CodeCommit\")."
  type        = string
  default     = null
}

variable "branch" {
  description = "Branch whose pushes start the pipeline."
  type        = string
  default     = "main"
}

variable "require_manual_approval" {
  description = "Stop between each later stage's (prod's) Plan and Deploy until someone approves that plan (on by default)."
  type        = bool
  default     = true
}

variable "state_bucket" {
  description = "Name of the Terraform state bucket created by infra/bootstrap; the Plan and Deploy builds read and lock the stage's state in it. null: the bootstrap's default name, dofs-tfstate-{account id}-{region}."
  type        = string
  default     = null
}

variable "state_kms_key_arn" {
  description = "KMS key encrypting the state bucket, when it is a customer-managed key; null for SSE-S3 or aws/s3."
  type        = string
  default     = null
}

variable "notification_topic_arn" {
  description = "SNS topic for pipeline failures and approval requests, e.g. the stage's alarm_topic_arn output. null: this stack creates its own topic."
  type        = string
  default     = null
}

variable "notification_topic_kms_key_arn" {
  description = "KMS key encrypting notification_topic_arn, if any: the pipeline role may then use it to publish approval requests."
  type        = string
  default     = null
}

variable "notification_email" {
  description = "Address subscribed to the topic this stack creates (it must confirm the subscription); null for none."
  type        = string
  default     = null
}

variable "log_retention_days" {
  description = "Retention of the build logs in CloudWatch Logs."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ..., 3653)."
  }
}

variable "artifact_retention_days" {
  description = "Days pipeline artifacts (sources, plans, outputs) are kept in the artifact bucket."
  type        = number
  default     = 30
}

variable "codebuild_image" {
  description = "CodeBuild image; it must offer Python 3.11 (runtime-versions) and the AWS CLI."
  type        = string
  default     = "aws/codebuild/standard:7.0"
}

variable "codebuild_compute_type" {
  description = "CodeBuild compute type of every build but the test."
  type        = string
  default     = "BUILD_GENERAL1_SMALL"
}

variable "build_timeout_minutes" {
  description = "Timeout of each build but the test."
  type        = number
  default     = 30
}

variable "test_compute_type" {
  description = "CodeBuild compute type of the test build, which runs the whole of make test, the infrastructure proof included (Terraform against moto)."
  type        = string
  default     = "BUILD_GENERAL1_MEDIUM"
}

variable "test_timeout_minutes" {
  description = "Timeout of the test build."
  type        = number
  default     = 60
}

variable "terraform_version" {
  description = "Terraform version `make ci-tools` installs in the builds (the one CI pins)."
  type        = string
  default     = "1.11.4"
}

variable "tags" {
  description = "Extra tags on every resource (Project and Stage are always set)."
  type        = map(string)
  default     = {}
}

variable "stage_managed_policy_arns" {
  description = "Managed policies the Deploy role may attach to the stage's roles (each with the stage boundary); none today, as the stage's roles have inline policies only."
  type        = list(string)
  default     = []
}
