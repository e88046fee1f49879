terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7.0"
    }
  }
  # Local state on purpose: this creates the bucket every other state lives in.
}

provider "aws" {
  region = var.region

  default_tags {
    tags = { Project = "dofs", Stage = "bootstrap" }
  }
}
