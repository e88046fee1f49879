# On-demand tables keyed by a string hash key, encrypted with KMS and with point-in-time recovery.
locals {
  # Every key attribute of a table (its hash key and its indexes' keys) must be declared once.
  key_attributes = {
    for key, _ in var.tables : key => distinct(concat(
      [var.hash_key],
      flatten([for index in lookup(var.global_secondary_indexes, key, []) : compact([index.hash_key, index.range_key])]),
    ))
  }
}

resource "aws_dynamodb_table" "this" {
  for_each = var.tables

  name                        = each.value
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = var.hash_key
  deletion_protection_enabled = var.deletion_protection

  dynamic "attribute" {
    for_each = local.key_attributes[each.key]
    content {
      name = attribute.value
      type = "S"
    }
  }

  dynamic "global_secondary_index" {
    for_each = { for index in lookup(var.global_secondary_indexes, each.key, []) : index.name => index }
    content {
      name            = global_secondary_index.value.name
      hash_key        = global_secondary_index.value.hash_key
      range_key       = global_secondary_index.value.range_key
      projection_type = global_secondary_index.value.projection_type
    }
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery
  }

  # Items whose ttl_attribute (epoch seconds) has passed are deleted by DynamoDB, free of write
  # units: the app sets it when an order becomes terminal, so storage stops growing.
  dynamic "ttl" {
    for_each = var.ttl_attribute == null ? [] : [var.ttl_attribute]
    content {
      enabled        = true
      attribute_name = ttl.value
    }
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}
