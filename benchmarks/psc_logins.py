"""Pro Santé Connect mock throughput: complete logins per second on loopback over TLS.

    python -m benchmarks.psc_logins [--logins 300] [--clients 4] [--runs 5]

One login = authorization request (headless, login_hint) + code exchange with PKCE and
client_secret_basic + userinfo, each on a keep-alive connection per client thread; every
exchange is recorded in SQLite before it is answered. Prints each run and the median.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import secrets
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx

from benchmarks.loadrun import report_runs, threaded_rate
from harness.core import pki
from harness.run.environment import HarnessEnvironment

CLIENT, SECRET, REDIRECT = "segur-reference", "segur-reference-secret", "http://127.0.0.1:8765/callback"


def one_login(http: httpx.Client, config: dict) -> bool:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "response_type": "code",
        "client_id": CLIENT,
        "redirect_uri": REDIRECT,
        "scope": "openid scope_all",
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "acr_values": "eidas1",
        "login_hint": "899900000011",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    location = http.get(config["authorization_endpoint"], params=params).headers.get("location", "")
    code = parse_qs(urlparse(location).query).get("code", [""])[0]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    tokens = http.post(config["token_endpoint"], data=data, auth=(CLIENT, SECRET))
    if tokens.status_code != 200:
        return False
    headers = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
    return http.get(config["userinfo_endpoint"], headers=headers).status_code == 200


def one_run(env: HarnessEnvironment, logins: int, clients: int) -> tuple[float, int]:
    issuer = env.endpoint("psc", env.new_session_key("bench"))

    def connect() -> tuple[Callable[[], bool], Callable[[], None]]:
        http = httpx.Client(verify=pki.client_ssl_context(env.pki, None), timeout=10)
        config = http.get(issuer + "/.well-known/openid-configuration").json()
        return (lambda: one_login(http, config)), http.close

    return threaded_rate(clients, logins // clients, connect)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logins", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, HarnessEnvironment(Path(tmp)) as env:
        one_run(env, 20, 1)  # warm-up
        label = f"{args.logins} logins, {args.clients} clients"
        return report_runs(args.runs, lambda: one_run(env, args.logins, args.clients), "logins/s", label)


if __name__ == "__main__":
    sys.exit(main())
