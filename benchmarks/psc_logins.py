"""Pro Santé Connect mock throughput: complete logins per second on loopback over TLS.

    python benchmarks/psc_logins.py [--logins 300] [--clients 4] [--runs 5]

One login = authorization request (headless, login_hint) + code exchange with PKCE and
client_secret_basic + userinfo, each on a keep-alive connection per client thread; every
exchange is recorded in SQLite before it is answered. Prints each run and the median.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx

from harness import pki
from harness.environment import HarnessEnvironment

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
    errors = [0]
    per_client = logins // clients

    def worker() -> None:
        with httpx.Client(verify=pki.client_ssl_context(env.pki, None), timeout=10) as http:
            config = http.get(issuer + "/.well-known/openid-configuration").json()
            for _ in range(per_client):
                if not one_login(http, config):
                    errors[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return per_client * clients / (time.perf_counter() - started), errors[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logins", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, HarnessEnvironment(Path(tmp)) as env:
        one_run(env, 20, 1)  # warm-up
        rates = []
        for index in range(args.runs):
            rate, errors = one_run(env, args.logins, args.clients)
            rates.append(rate)
            print(f"run {index + 1}: {rate:7.1f} logins/s, {errors} errors")
            if errors:
                return 1
        print(f"median: {statistics.median(rates):.1f} logins/s ({args.logins} logins, {args.clients} clients)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
