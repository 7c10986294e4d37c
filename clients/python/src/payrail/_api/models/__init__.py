"""Contains all the data models used in inputs/outputs"""

from .account import Account
from .account_page import AccountPage
from .atomic_batch_refusal import AtomicBatchRefusal
from .attempt_page import AttemptPage
from .balance_at import BalanceAt
from .batch_item import BatchItem
from .batch_item_result import BatchItemResult
from .batch_request import BatchRequest
from .batch_response import BatchResponse
from .capture import Capture
from .capture_request import CaptureRequest
from .create_account import CreateAccount
from .create_endpoint import CreateEndpoint
from .create_payment import CreatePayment
from .create_refund import CreateRefund
from .created_webhook_endpoint import CreatedWebhookEndpoint
from .credit_limit_change import CreditLimitChange
from .currency import Currency
from .delivery_attempt import DeliveryAttempt
from .endpoint_page import EndpointPage
from .entry_page import EntryPage
from .error import Error
from .error_code import ErrorCode
from .error_detail import ErrorDetail
from .event import Event
from .event_page import EventPage
from .event_type import EventType
from .failure_reason import FailureReason
from .get_open_api_document_response_200 import GetOpenApiDocumentResponse200
from .health import Health
from .ledger_entry import LedgerEntry
from .ledger_head import LedgerHead
from .metadata import Metadata
from .metadata_patch import MetadataPatch
from .payment import Payment
from .payment_page import PaymentPage
from .payment_status import PaymentStatus
from .readiness import Readiness
from .refund import Refund
from .refund_list import RefundList
from .refund_status import RefundStatus
from .rotated_secret import RotatedSecret
from .statement import Statement
from .statement_day import StatementDay
from .subscribed_type import SubscribedType
from .update_account import UpdateAccount
from .update_metadata import UpdateMetadata
from .webhook_endpoint import WebhookEndpoint

__all__ = (
    "Account",
    "AccountPage",
    "AtomicBatchRefusal",
    "AttemptPage",
    "BalanceAt",
    "BatchItem",
    "BatchItemResult",
    "BatchRequest",
    "BatchResponse",
    "Capture",
    "CaptureRequest",
    "CreateAccount",
    "CreateEndpoint",
    "CreatePayment",
    "CreateRefund",
    "CreatedWebhookEndpoint",
    "CreditLimitChange",
    "Currency",
    "DeliveryAttempt",
    "EndpointPage",
    "EntryPage",
    "Error",
    "ErrorCode",
    "ErrorDetail",
    "Event",
    "EventPage",
    "EventType",
    "FailureReason",
    "GetOpenApiDocumentResponse200",
    "Health",
    "LedgerEntry",
    "LedgerHead",
    "Metadata",
    "MetadataPatch",
    "Payment",
    "PaymentPage",
    "PaymentStatus",
    "Readiness",
    "Refund",
    "RefundList",
    "RefundStatus",
    "RotatedSecret",
    "Statement",
    "StatementDay",
    "SubscribedType",
    "UpdateAccount",
    "UpdateMetadata",
    "WebhookEndpoint",
)
