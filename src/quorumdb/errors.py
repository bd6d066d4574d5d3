"""DynamoDB's error types, as exceptions every layer may raise.

Theory of operation: the model, expression and storage layers raise these typed errors
and the HTTP layer turns each into DynamoDB's wire form,
``{"__type": "com.amazonaws.dynamodb.v20120810#<Name>", "message": ...}`` with the
status code DynamoDB uses. The module lives at the package root (not under ``api/`` as
DESIGN.md's table suggests) because the pure cores raise them too and must not import
the HTTP layer.

Blame is split as in h11: ``DynamoDBError`` is the client's fault or an expected
operating condition (it reaches the user); anything else escaping a handler is our bug
and becomes ``InternalServerError`` with no traceback on the wire.
"""

from __future__ import annotations

from typing import Any

DYNAMODB_PREFIX = "com.amazonaws.dynamodb.v20120810#"
COYOTE_PREFIX = "com.amazon.coral.service#"
VALIDATION_PREFIX = "com.amazon.coral.validate#"
AVAILABILITY_PREFIX = "com.amazon.coral.availability#"


class DynamoDBError(Exception):
    """An error DynamoDB itself would answer with; ``type_name`` is the ``__type``."""

    type_name: str = "InternalServerError"
    prefix: str = DYNAMODB_PREFIX
    status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def wire_type(self) -> str:
        return self.prefix + self.type_name

    def body(self) -> dict[str, Any]:
        return {"__type": self.wire_type, "message": self.message}


class ValidationException(DynamoDBError):
    type_name = "ValidationException"
    prefix = VALIDATION_PREFIX


class SerializationException(DynamoDBError):
    type_name = "SerializationException"
    prefix = COYOTE_PREFIX


class UnknownOperationException(DynamoDBError):
    type_name = "UnknownOperationException"
    prefix = COYOTE_PREFIX


class MissingAuthenticationTokenException(DynamoDBError):
    type_name = "MissingAuthenticationTokenException"
    prefix = COYOTE_PREFIX


class IncompleteSignatureException(DynamoDBError):
    type_name = "IncompleteSignatureException"
    prefix = COYOTE_PREFIX


class InvalidSignatureException(DynamoDBError):
    type_name = "InvalidSignatureException"
    prefix = COYOTE_PREFIX


class UnrecognizedClientException(DynamoDBError):
    type_name = "UnrecognizedClientException"
    prefix = COYOTE_PREFIX


class AccessDeniedException(DynamoDBError):
    type_name = "AccessDeniedException"
    prefix = COYOTE_PREFIX


class RequestEntityTooLargeException(DynamoDBError):
    type_name = "RequestEntityTooLarge"
    prefix = COYOTE_PREFIX
    status = 413


class ResourceNotFoundException(DynamoDBError):
    type_name = "ResourceNotFoundException"


class ResourceInUseException(DynamoDBError):
    type_name = "ResourceInUseException"


class LimitExceededException(DynamoDBError):
    type_name = "LimitExceededException"


class ItemCollectionSizeLimitExceededException(DynamoDBError):
    type_name = "ItemCollectionSizeLimitExceededException"


class ProvisionedThroughputExceededException(DynamoDBError):
    type_name = "ProvisionedThroughputExceededException"


class ThrottlingException(DynamoDBError):
    type_name = "ThrottlingException"
    prefix = AVAILABILITY_PREFIX


class InternalServerError(DynamoDBError):
    type_name = "InternalServerError"
    status = 500


class ServiceUnavailableException(DynamoDBError):
    type_name = "ServiceUnavailableException"
    prefix = COYOTE_PREFIX
    status = 503


class ConditionalCheckFailedException(DynamoDBError):
    """A failed condition; ``item`` is returned when ReturnValuesOnConditionCheckFailure
    is ALL_OLD and the item exists."""

    type_name = "ConditionalCheckFailedException"

    def __init__(
        self, message: str = "The conditional request failed", item: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.item = item

    def body(self) -> dict[str, Any]:
        out = super().body()
        if self.item is not None:
            out["Item"] = self.item
        return out
