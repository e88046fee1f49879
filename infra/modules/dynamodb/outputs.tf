output "table_names" {
  description = "Logical key to table name."
  value       = { for key, table in aws_dynamodb_table.this : key => table.name }
}

output "index_arns" {
  description = "Logical key of a table to its global secondary indexes' ARNs, by index name."
  value = {
    for key, table in aws_dynamodb_table.this : key => {
      for index in lookup(var.global_secondary_indexes, key, []) : index.name => "${table.arn}/index/${index.name}"
    }
  }
}

output "table_arns" {
  description = "Logical key to table ARN."
  value       = { for key, table in aws_dynamodb_table.this : key => table.arn }
}
