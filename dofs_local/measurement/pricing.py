"""The one table of published figures the cost model reads: AWS list prices (us-east-1, no
free tier, checked 2026-11) and typical in-region latencies, each with its source."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    value: float
    source: str


_LAMBDA = "https://aws.amazon.com/lambda/pricing/"
_SFN = "https://aws.amazon.com/step-functions/pricing/"
_DYNAMODB = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
_CLOUDWATCH = "https://aws.amazon.com/cloudwatch/pricing/"

PRICES = {
    "api_gateway_rest_per_request": Figure(
        3.50 / 1e6, "https://aws.amazon.com/api-gateway/pricing/ (REST, first 333 M)"
    ),
    "lambda_per_request": Figure(0.20 / 1e6, _LAMBDA),
    "lambda_per_gb_second": Figure(0.0000166667, f"{_LAMBDA} (x86_64, first 6 B GB-s)"),
    "sfn_standard_per_transition": Figure(0.025 / 1e3, _SFN),
    "sfn_express_per_request": Figure(1.00 / 1e6, _SFN),
    "sfn_express_per_gb_second": Figure(0.00001667, f"{_SFN} (first 1,000 GB-hours)"),
    "sqs_per_request": Figure(0.40 / 1e6, "https://aws.amazon.com/sqs/pricing/ (standard; each 64 KiB is a request)"),
    "dynamodb_per_write_request_unit": Figure(0.625 / 1e6, _DYNAMODB),
    "dynamodb_per_read_request_unit": Figure(0.125 / 1e6, _DYNAMODB),
    "cloudwatch_logs_per_gb_ingested": Figure(0.50, f"{_CLOUDWATCH} (standard class; vended logs first 10 TB)"),
    "cloudwatch_logs_per_gb_month_stored": Figure(0.03, f"{_CLOUDWATCH} (archived, compressed)"),
    "xray_per_trace_recorded": Figure(5.00 / 1e6, "https://aws.amazon.com/xray/pricing/"),
    "dynamodb_per_gb_month_stored": Figure(0.25, f"{_DYNAMODB} (table class Standard, beyond the first 25 GB)"),
    "dynamodb_pitr_per_gb_month": Figure(0.20, f"{_DYNAMODB} (continuous backups, of the table's size)"),
    "cloudwatch_alarm_per_month": Figure(0.10, f"{_CLOUDWATCH} (standard resolution metric alarm)"),
    "cloudwatch_dashboard_per_month": Figure(3.00, f"{_CLOUDWATCH} (beyond the first 3 dashboards)"),
    "cloudwatch_custom_metric_per_month": Figure(0.30, f"{_CLOUDWATCH} (first 10,000 metrics)"),
    "kms_key_per_month": Figure(1.00, "https://aws.amazon.com/kms/pricing/ (customer managed key)"),
    "waf_web_acl_per_month": Figure(5.00, "https://aws.amazon.com/waf/pricing/"),
    "waf_rule_per_month": Figure(1.00, "https://aws.amazon.com/waf/pricing/"),
    "waf_per_request": Figure(0.60 / 1e6, "https://aws.amazon.com/waf/pricing/"),
}
PRICES_USD = {name: figure.value for name, figure in PRICES.items()}

# Typical in-region latency of one call, as the caller waits for it (Lambda bills the wait).
_DYNAMODB_LATENCY = (
    "https://repost.aws/knowledge-center/dynamodb-high-latency (GetItem/PutItem: single-digit ms average)"
)
_MESSAGING_LATENCY = "https://bitesizedserverless.com/bite/serverless-messaging-latency-compared/ (eu-west-1, 2022)"
LATENCY_S = {
    "dynamodb.PutItem": Figure(0.010, _DYNAMODB_LATENCY),
    "dynamodb.UpdateItem": Figure(0.010, _DYNAMODB_LATENCY),
    "dynamodb.GetItem": Figure(0.010, _DYNAMODB_LATENCY),
    "dynamodb.DeleteItem": Figure(0.010, _DYNAMODB_LATENCY),
    "dynamodb.Query": Figure(0.015, _DYNAMODB_LATENCY),
    "dynamodb.TransactWriteItems": Figure(0.020, _DYNAMODB_LATENCY),
    "sqs.SendMessage": Figure(0.020, f"{_MESSAGING_LATENCY} (SQS standard p50 16 ms, send to receive)"),
    "sqs.SendMessageBatch": Figure(0.020, f"{_MESSAGING_LATENCY} (SQS standard p50 16 ms, send to receive)"),
    "stepfunctions.StartExecution": Figure(0.050, f"{_MESSAGING_LATENCY} (Express, start to the first task p50 77 ms)"),
    # A Task state's own overhead around the function it invokes (Express sync p50 77 ms, less
    # the StartExecution above).
    "lambda.Invoke": Figure(0.025, _MESSAGING_LATENCY),
}
# A call the table lacks is priced at the slowest figure in it, never at zero.
DEFAULT_LATENCY_S = max(figure.value for figure in LATENCY_S.values())

# Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB. Below that, the
# handler's CPU time stretches by 1,769 / memory (the model assumes a Lambda vCPU runs this
# Python as fast as a core of the machine that measured it).
LAMBDA_MB_PER_VCPU = Figure(1769, "https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html")
# CloudWatch Logs counts each event's message bytes plus 26 bytes of metadata.
CLOUDWATCH_LOGS_EVENT_OVERHEAD_BYTES = Figure(
    26, "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html"
)
# DynamoDB bills an item's size plus 100 bytes of overhead for storage; a write unit per 1 KB
# written, a strongly consistent read unit per 4 KB read.
# docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
DYNAMODB_ITEM_OVERHEAD_BYTES = 100
DYNAMODB_WRITE_UNIT_BYTES = 1024
DYNAMODB_READ_UNIT_BYTES = 4096
EXPRESS_MEMORY_CHUNK_MB = 64
EXPRESS_DURATION_STEP_S = 0.1
LAMBDA_DURATION_STEP_S = 0.001


@dataclass(frozen=True)
class Line:
    """One priced item of the per-order bill."""

    service: str
    item: str
    quantity_per_order: float
    unit_price: float

    @property
    def usd_per_million_orders(self) -> float:
        return self.quantity_per_order * self.unit_price * 1e6


def round_up(value: float, step: float) -> float:
    steps = -(-value // step)  # ceiling division
    return float(steps * step)
