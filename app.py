"""DOFS: routes and handlers only. The logic lives in `chalicelib/`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, cast

from chalice.app import Chalice, CloudWatchEvent, ConvertToMiddleware, Rate, Request, Response, SQSEvent

from chalicelib import runtime, workflow_tasks
from chalicelib.cors import route_cors
from chalicelib.observability import lambda_log_context, traced
from chalicelib.settings import CorsSettings

if TYPE_CHECKING:  # the SQS batch utilities load only in the functions that handle batches
    from chalicelib.sqs_batch import LambdaContext

app = Chalice(app_name="dofs")
# On Lambda the function's clients and settings are built now, in its container's init phase,
# not inside its first invocation's timeout; a bad setting fails the cold start, named.
runtime.prepare(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"), app.app_name)
# Every function's log lines carry the invocation's Lambda context (cold start, request id).
app.register_middleware(ConvertToMiddleware(lambda_log_context))
# Every invocation is an X-Ray subsegment, its AWS calls nested in it (off outside Lambda).
app.register_middleware(ConvertToMiddleware(traced))

# Terraform fills these references: the Chalice package becomes a module whose inputs are
# the queues that infra/ creates (see infra/README.md).
ORDER_QUEUE_ARN = "${var.order_queue_arn}"
ORDER_DLQ_ARN = "${var.order_dlq_arn}"
FULFILLMENT_BATCH_SIZE = 10
FULFILLMENT_BATCHING_WINDOW_SECONDS = 1
# Every route needs an x-api-key of the stage's usage plan (scripts/postprocess_chalice_tf.py adds
# it to the package).
API_KEY_REQUIRED = True
# The stage's allowed browser origin (CORS_ALLOWED_ORIGINS), read at import as Chalice needs it:
# a malformed value fails the cold start, named. API Gateway answers the preflight (OPTIONS) itself.
CORS = route_cors(CorsSettings.from_env())
# How often the reconciler looks for stuck orders on AWS; the stuck-order threshold (15 minutes in
# dev) is the stage's setting.
RECONCILE_EVERY_MINUTES = 5


@app.route("/order", methods=["POST"], content_types=["*/*"], api_key_required=API_KEY_REQUIRED, cors=CORS)
def create_order() -> Response:
    request = _current_request()
    return runtime.order_api().create_order(request.raw_body, request.headers.get("content-type"))


@app.route("/order/{order_id}", methods=["GET"], api_key_required=API_KEY_REQUIRED, cors=CORS)
def get_order(order_id: str) -> Response:
    return runtime.order_api().get_order(order_id)


@app.route("/openapi.json", methods=["GET"], api_key_required=API_KEY_REQUIRED, cors=CORS)
def openapi_document() -> dict[str, Any]:
    from chalicelib import openapi  # builds its models on first use: no function's cold start pays

    return openapi.document()


def _current_request() -> Request:
    request = app.current_request
    if request is None:  # Chalice sets it for every route; this narrows the type
        raise RuntimeError("no current request")
    return request


def _lambda_context(event: SQSEvent) -> LambdaContext:
    # Chalice types it as a dict; on Lambda it is Lambda's context object.
    return cast("LambdaContext", event.context)


@app.lambda_function(name="validate_order")
def validate_order(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return workflow_tasks.validate_order(event, runtime.business_rules())


@app.lambda_function(name="store_order")
def store_order(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return runtime.workflow_tasks().store_order(event)


@app.lambda_function(name="record_workflow_failure")
def record_workflow_failure(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return runtime.workflow_tasks().record_workflow_failure(event)


@app.on_sqs_message(
    queue_arn=ORDER_QUEUE_ARN,
    batch_size=FULFILLMENT_BATCH_SIZE,
    maximum_batching_window_in_seconds=FULFILLMENT_BATCHING_WINDOW_SECONDS,
    name="fulfill_order",
)
def fulfill_order(event: SQSEvent) -> dict[str, Any]:
    return runtime.fulfillment().handle_batch(event.to_dict(), _lambda_context(event))


@app.on_sqs_message(queue_arn=ORDER_DLQ_ARN, batch_size=FULFILLMENT_BATCH_SIZE, name="handle_dead_letter")
def handle_dead_letter(event: SQSEvent) -> dict[str, Any]:
    return runtime.dead_letter_handler().handle_batch(event.to_dict(), _lambda_context(event))


@app.schedule(Rate(RECONCILE_EVERY_MINUTES, unit=Rate.MINUTES), name="reconcile_orders")
def reconcile_orders(event: CloudWatchEvent) -> dict[str, Any]:
    return runtime.reconciler().run().to_payload()
