# On-demand tables keyed by a string hash key, encrypted with KMS and with point-in-time recovery.
resource "aws_dynamodb_table" "this" {
  for_each = var.tables

  name                        = each.value
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = var.hash_key
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = var.hash_key
    type = "S"
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}
