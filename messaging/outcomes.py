"""What one vendor call can come to: the names the delivery policy decides on and the delivery
history stores (DeliveryAttempt.Outcome). Plain strings, importable without the ORM."""

SENT = "sent"
REJECTED = "rejected"
RATE_LIMITED = "rate_limited"
SERVER_ERROR = "server_error"
TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"
ALL = (SENT, REJECTED, RATE_LIMITED, SERVER_ERROR, TIMEOUT, CONNECTION_ERROR)
