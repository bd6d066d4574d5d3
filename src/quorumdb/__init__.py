"""quorumdb: a DynamoDB-compatible database built the way the DynamoDB paper describes
the real service. See README.md and docs/internals.md."""

__version__ = "0.1.0"
