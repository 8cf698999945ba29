"""Mints an HS256 JWT for local development: dev-token.py USER_ID [SECONDS].
The secret comes from SPIN_VARIABLE_JWT_HS256_SECRET, as the app reads it."""
import base64
import hashlib
import hmac
import json
import os
import sys
import time


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


user = sys.argv[1]
ttl = int(sys.argv[2]) if len(sys.argv) > 2 else 86400
secret = os.environ["SPIN_VARIABLE_JWT_HS256_SECRET"].encode()
now = int(time.time())
header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
claims = b64(json.dumps({"sub": user, "iat": now, "exp": now + ttl}).encode())
signature = b64(hmac.new(secret, f"{header}.{claims}".encode(), hashlib.sha256).digest())
print(f"{header}.{claims}.{signature}")
