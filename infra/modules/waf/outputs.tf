output "web_acl_arn" {
  description = "ARN of the web ACL."
  value       = aws_wafv2_web_acl.api.arn
}

output "web_acl_capacity" {
  description = "Web ACL capacity units the rules use (a regional web ACL has 1,500 without a quota increase)."
  value       = aws_wafv2_web_acl.api.capacity
}

output "log_group_name" {
  description = "Log group of the requests the web ACL blocked or counted."
  value       = aws_cloudwatch_log_group.waf.name
}
