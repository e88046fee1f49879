# Every AWS stage (dev, prod, ...) from this one root: tables, queues, roles, log groups, the order
# workflow, monitoring and the Chalice-packaged app. A stage is data: its names and settings are
# its entry in .chalice/config.json (the one source of truth that Chalice and the local stack read
# too), and its state is infra/stages/<stage>.s3.tfbackend. `make plan|deploy|destroy STAGE=<stage>`
# passes both and copies the stage's package (build/package/<stage>) to build/app, the fixed
# path a module source needs.
locals {
  stage       = var.stage
  project_dir = "${path.module}/../.."
  chalice     = jsondecode(file("${local.project_dir}/.chalice/config.json"))
  config      = local.chalice.stages[local.stage]
  settings    = local.config.dofs
  app_name    = local.chalice.app_name
  prefix      = "${local.app_name}-${local.stage}"

  tags = {
    Project = local.app_name
    Stage   = local.stage
  }

  # Chalice names the API handler {app}-{stage} and every other function {app}-{stage}-{name}.
  handlers = ["api_handler", "validate_order", "store_order", "record_workflow_failure", "fulfill_order", "handle_dead_letter", "reconcile_orders"]
  function_names = {
    for handler in local.handlers : handler => handler == "api_handler" ? local.prefix : "${local.prefix}-${handler}"
  }
  xray = try(local.config.xray, false)

  # Each queue's visibility timeout: the stage's visibility_timeout_factor times its consumer's
  # timeout as packaged (AWS advises 6; modules/sqs refuses less), so it follows the timeout.
  queue_visibility_timeout_seconds = local.settings.visibility_timeout_factor * module.app.function_timeouts["fulfill_order"]
  dlq_visibility_timeout_seconds   = local.settings.visibility_timeout_factor * module.app.function_timeouts["handle_dead_letter"]

  # The API handler's role names the workflow by its ARN built from name, partition, region and
  # account, not read from the resource: the workflow needs the functions, the functions need their
  # roles' policies (AWS checks them at CreateFunction), so reading it would make a cycle.
  state_machine_name = "${local.prefix}-order-workflow"
  state_machine_arn = join(":", [
    "arn", data.aws_partition.current.partition, "states", local.settings.region,
    data.aws_caller_identity.current.account_id, "stateMachine", local.state_machine_name,
  ])
}

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

# The Powertools layer every function carries, in the stage's region: the layer version Powertools
# published for the release requirements-dev.txt pins, the packaged runtime and architecture (the
# package names the parameter: scripts/postprocess_chalice_tf.py). A release Powertools never
# published fails the plan, naming the parameter.
data "aws_ssm_parameter" "powertools_layer" {
  name = module.app.powertools_layer_parameter
}

check "state_machine_arn" {
  assert {
    condition     = module.stepfunctions.arn == local.state_machine_arn
    error_message = "The API handler may start ${local.state_machine_arn}, but the workflow is ${module.stepfunctions.arn}."
  }
}

module "dynamodb" {
  source = "../modules/dynamodb"

  tables = {
    orders        = local.config.environment_variables.ORDERS_TABLE
    failed_orders = local.config.environment_variables.FAILED_ORDERS_TABLE
  }
  # Sparse and sharded, so no index partition is hot (chalicelib/repository.py names them; tests
  # check the two agree). open-orders: the open orders (the reconciler's stuck ones, the
  # operators' lists), each in it from accepted (or redriven) to terminal: two writes an order.
  # dead-lettered: the failed_orders records of orders dead-lettered now (operators' list, redrive --all).
  global_secondary_indexes = {
    orders        = [{ name = "open-orders", hash_key = "open_shard", range_key = "open_since", projection_type = "KEYS_ONLY" }]
    failed_orders = [{ name = "dead-lettered", hash_key = "dead_letter_shard", range_key = "dead_lettered_at", projection_type = "KEYS_ONLY" }]
  }
  point_in_time_recovery = local.settings.point_in_time_recovery
  deletion_protection    = local.settings.deletion_protection
  # The app writes it when an order becomes terminal, order_retention_days (failed orders:
  # failed_order_retention_days) ahead (chalicelib/repository.py's EXPIRES_AT).
  ttl_attribute = "expires_at"
  tags          = local.tags
}

module "sqs" {
  source = "../modules/sqs"

  queue_name                 = "${local.prefix}-order_queue"
  dlq_name                   = "${local.prefix}-order_dlq"
  max_receive_count          = local.settings.max_receive_count
  visibility_timeout_seconds = local.queue_visibility_timeout_seconds
  # The timeouts as packaged (literals of the package, so the queues need not wait for the functions).
  consumer_timeout_seconds       = module.app.function_timeouts["fulfill_order"]
  dlq_visibility_timeout_seconds = local.dlq_visibility_timeout_seconds
  dlq_consumer_timeout_seconds   = module.app.function_timeouts["handle_dead_letter"]
  dlq_retention_seconds          = local.settings.dlq_retention_seconds
  restrict_dlq_sources           = var.restrict_dlq_sources
  tags                           = local.tags
}

# Lambda would create these on first write; creating them here sets retention and lets each
# role write to its own group only.
resource "aws_cloudwatch_log_group" "function" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts every log group at rest with service-managed keys; a customer managed KMS key adds cost and a key policy for no gain in this project
  #checkov:skip=CKV_AWS_338:retention is a per-stage setting (log_retention_days in .chalice/config.json: 30 days in dev, a year in prod)
  for_each = local.function_names

  name              = "/aws/lambda/${each.value}"
  retention_in_days = local.settings.log_retention_days
  tags              = local.tags
}

module "iam" {
  source = "../modules/iam"

  prefix                   = local.prefix
  function_names           = local.function_names
  log_group_arns           = { for handler, group in aws_cloudwatch_log_group.function : handler => group.arn }
  orders_table_arn         = module.dynamodb.table_arns["orders"]
  orders_open_index_arn    = module.dynamodb.index_arns["orders"]["open-orders"]
  failed_orders_table_arn  = module.dynamodb.table_arns["failed_orders"]
  order_queue_arn          = module.sqs.queue_arn
  order_dlq_arn            = module.sqs.dlq_arn
  state_machine_arn        = local.state_machine_arn
  enable_xray              = local.xray
  permissions_boundary_arn = var.permissions_boundary_arn
  tags                     = local.tags
}

# The roles `dofs_ops` runs with on this stage: the operator's and a read-only one.
module "operator" {
  source = "../modules/operator"

  prefix                  = local.prefix
  trusted_principal_arns  = var.operator_principal_arns
  orders_table_arn        = module.dynamodb.table_arns["orders"]
  failed_orders_table_arn = module.dynamodb.table_arns["failed_orders"]
  index_arns              = flatten([for table in ["orders", "failed_orders"] : values(module.dynamodb.index_arns[table])])
  order_queue_arn         = module.sqs.queue_arn
  log_group_arns = concat(
    ["arn:${data.aws_partition.current.partition}:logs:${local.settings.region}:${data.aws_caller_identity.current.account_id}:log-group:${module.stepfunctions.log_group_name}"],
    [for group in aws_cloudwatch_log_group.function : group.arn],
  )
  usage_plan_id            = var.enable_api_gateway ? module.api_gateway[0].usage_plan_id : null
  region                   = local.settings.region
  permissions_boundary_arn = var.permissions_boundary_arn
  tags                     = local.tags
}

module "app" {
  source = "../../build/app"

  order_queue_arn   = module.sqs.queue_arn
  order_dlq_arn     = module.sqs.dlq_arn
  state_machine_arn = module.stepfunctions.arn

  api_handler_role_arn             = module.iam.role_arns["api_handler"]
  validate_order_role_arn          = module.iam.role_arns["validate_order"]
  store_order_role_arn             = module.iam.role_arns["store_order"]
  record_workflow_failure_role_arn = module.iam.role_arns["record_workflow_failure"]
  fulfill_order_role_arn           = module.iam.role_arns["fulfill_order"]
  handle_dead_letter_role_arn      = module.iam.role_arns["handle_dead_letter"]
  reconcile_orders_role_arn        = module.iam.role_arns["reconcile_orders"]

  # A layer ARN, not a secret: a String parameter's value, which the provider marks sensitive.
  powertools_layer_arn = data.aws_ssm_parameter.powertools_layer.insecure_value

  # The reconciler's settings, from .chalice/config.json's dofs block.
  order_queue_url               = module.sqs.queue_url
  stuck_order_threshold_seconds = local.settings.stuck_order_threshold_seconds
  max_receive_count             = local.settings.max_receive_count

  event_source_maximum_concurrency = local.settings.event_source_maximum_concurrency

  # JSON logs with the system level WARN: no START/END/REPORT lines (the cost model prices them).
  lambda_log_format            = try(local.settings.lambda_log_format, "Text")
  lambda_system_log_level      = try(local.settings.lambda_system_log_level, "INFO")
  lambda_application_log_level = replace(try(local.config.environment_variables.POWERTOOLS_LOG_LEVEL, "INFO"), "WARNING", "WARN")
  sqs_consumer_tracing_mode    = try(local.settings.xray_sqs_consumer_mode, "Active")

  enable_api_gateway = var.enable_api_gateway
  enable_xray        = local.xray
}

# The API stage Chalice's REST API is served on, its throttles, access log and the usage plan
# every client's key joins (dofs_ops keys makes the keys: none is in Terraform). Stage throttle
# and per-client throttle and quota are the stage's settings.
module "api_gateway" {
  source = "../modules/api_gateway"
  count  = var.enable_api_gateway ? 1 : 0

  prefix                    = local.prefix
  rest_api_id               = module.app.RestAPIId
  deployment_id             = module.app.api_deployment_id
  stage_name                = module.app.api_stage_name
  throttling_rate_limit     = local.settings.api_throttling_rate_limit
  throttling_burst_limit    = local.settings.api_throttling_burst_limit
  client_rate_limit         = local.settings.api_client_rate_limit
  client_burst_limit        = local.settings.api_client_burst_limit
  client_quota_per_day      = local.settings.api_client_quota_per_day
  access_log_retention_days = local.settings.log_retention_days
  enable_xray               = local.xray
  tags                      = local.tags
}

# The stage, its settings and access log were the packaged app's: moved, not made again. The
# shared API key and its plan membership are gone (destroyed): each client has its own key.
moved {
  from = module.app.aws_api_gateway_stage.api[0]
  to   = module.api_gateway[0].aws_api_gateway_stage.this
}

moved {
  from = module.app.aws_api_gateway_method_settings.all[0]
  to   = module.api_gateway[0].aws_api_gateway_method_settings.all
}

moved {
  from = module.app.aws_api_gateway_usage_plan.api[0]
  to   = module.api_gateway[0].aws_api_gateway_usage_plan.this
}

moved {
  from = module.app.aws_cloudwatch_log_group.api_access[0]
  to   = module.api_gateway[0].aws_cloudwatch_log_group.access
}

module "stepfunctions" {
  source = "../modules/stepfunctions"

  name                        = local.state_machine_name
  type                        = local.settings.workflow_type
  definition_file             = "${local.project_dir}/stepfunctions/order_workflow.asl.json"
  validate_order_arn          = module.app.validate_order_function_arn
  store_order_arn             = module.app.store_order_function_arn
  record_workflow_failure_arn = module.app.record_workflow_failure_function_arn
  order_queue_url             = module.sqs.queue_url
  order_queue_arn             = module.sqs.queue_arn
  log_retention_days          = local.settings.log_retention_days
  log_level                   = local.settings.workflow_log_level
  enable_xray                 = local.xray
  permissions_boundary_arn    = var.permissions_boundary_arn
  tags                        = local.tags
}

module "monitoring" {
  source = "../modules/monitoring"
  count  = var.enable_monitoring ? 1 : 0

  prefix            = local.prefix
  region            = local.settings.region
  alarm_emails      = local.settings.alarm_emails
  function_names    = local.function_names
  state_machine_arn = module.stepfunctions.arn
  order_dlq_name    = module.sqs.dlq_name
  order_queue_name  = module.sqs.queue_name
  # A third of the stuck-order threshold: a backlog alarms well before the reconciler would queue
  # its orders again, and the burst the stage is sized for (scripts/capacity.py) drains under it.
  order_queue_max_age_seconds = floor(local.settings.stuck_order_threshold_seconds / 3)
  dynamodb_tables             = module.dynamodb.table_names
  dynamodb_indexes = merge([
    for table, indexes in module.dynamodb.index_arns : {
      for index in keys(indexes) : "${table}-${index}" => { table_name = module.dynamodb.table_names[table], index_name = index }
    }
  ]...)
  # The identity the functions give their custom metrics (Powertools reads these variables).
  metrics_namespace = local.config.environment_variables.POWERTOOLS_METRICS_NAMESPACE
  metrics_service   = local.config.environment_variables.POWERTOOLS_SERVICE_NAME
  api_name          = module.app.api_name
  api_stage_name    = module.app.api_stage_name
  tags              = local.tags
}

# The stage's share of API requests traced (the API's sampling decision travels with the request to
# the functions and the workflow): X-Ray's default rule traces 1 request a second and 5 % of the
# rest in every stage alike; this rule makes it the stage's setting. Matched by the API stage's
# ARN.
resource "aws_xray_sampling_rule" "api" {
  count = local.xray && var.enable_api_gateway ? 1 : 0

  rule_name      = "${local.prefix}-api"
  priority       = 1000
  version        = 1
  reservoir_size = local.settings.xray_sampling_reservoir_per_second
  fixed_rate     = local.settings.xray_sampling_rate
  url_path       = "*"
  host           = "*"
  http_method    = "*"
  service_type   = "*"
  service_name   = "*"
  resource_arn   = module.api_gateway[0].stage_arn
  tags           = local.tags
}

# The stage's optional AWS WAF web ACL (modules/waf), off unless its dofs settings turn it on:
# "waf": {"enabled": true, "rate_limit_per_5_minutes": 2000}. About $8 a month plus $0.60 per
# million requests inspected.
module "waf" {
  source = "../modules/waf"
  count  = try(local.settings.waf.enabled, false) && var.enable_api_gateway ? 1 : 0

  name                     = local.prefix
  resource_arn             = module.api_gateway[0].stage_arn
  rate_limit_per_5_minutes = try(local.settings.waf.rate_limit_per_5_minutes, 2000)
  log_retention_days       = local.settings.log_retention_days
  tags                     = local.tags
}
