"""The email vendor: where it is, how long to wait for it, and when the circuit breaker opens."""

from .env import env_float, env_int, env_str

VENDOR_BASE_URL = env_str("VENDOR_BASE_URL", "http://127.0.0.1:8025")
VENDOR_NAME = env_str("VENDOR_NAME", "email-service")
VENDOR_CONNECT_TIMEOUT_SECONDS = env_float("VENDOR_CONNECT_TIMEOUT_SECONDS", 2.0)
VENDOR_READ_TIMEOUT_SECONDS = env_float("VENDOR_READ_TIMEOUT_SECONDS", 5.0)
CIRCUIT_FAILURE_THRESHOLD = env_int("CIRCUIT_FAILURE_THRESHOLD", 20)
# Half the calls failing in the window is a brown-out, not noise: the breaker opens on it too.
CIRCUIT_FAILURE_RATIO = env_float("CIRCUIT_FAILURE_RATIO", 0.5)
CIRCUIT_WINDOW_SECONDS = env_int("CIRCUIT_WINDOW_SECONDS", 30)
CIRCUIT_OPEN_SECONDS = env_int("CIRCUIT_OPEN_SECONDS", 30)
