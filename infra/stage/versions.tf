terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7.0"
    }
  }

  # Partial configuration: `make plan STAGE=<stage>` passes infra/stages/<stage>.s3.tfbackend plus the bucket
  # that infra/bootstrap created (see infra/README.md).
  backend "s3" {}
}

provider "aws" {
  region = local.settings.region

  default_tags {
    tags = local.tags
  }
}
