terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7.0"
    }
  }

  # Partial configuration, like the stages: the state bucket from infra/bootstrap is given at
  # init (see README.md), e.g.
  #   terraform init -backend-config=backend.s3.tfbackend -backend-config="bucket=<state bucket>"
  backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}
