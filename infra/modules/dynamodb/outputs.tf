output "table_names" {
  description = "Logical key to table name."
  value       = { for key, table in aws_dynamodb_table.this : key => table.name }
}

output "table_arns" {
  description = "Logical key to table ARN."
  value       = { for key, table in aws_dynamodb_table.this : key => table.arn }
}
