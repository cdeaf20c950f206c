"""The reference client as a command (``python -m harness.run.sut.reference_cli ACTION``).

It reads what a ``command`` SUT receives (``SEGUR_PARAMS``, ``SEGUR_INSI_URL``,
``SEGUR_CA_BUNDLE``, ``SEGUR_CLIENT_CERT``, ``SEGUR_CLIENT_KEY``) and prints its answer as one
JSON line: the example command SUT (``fixtures/sut/example-command.toml``) uses it, so the
command adapter is exercised end to end, and vendors have a working model to copy.
"""

from __future__ import annotations

import json
import os
import ssl
import sys

from harness.run.sut.reference_insi import ReferenceInsiClient


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m harness.run.sut.reference_cli ACTION (parameters in $SEGUR_PARAMS)", file=sys.stderr)
        return 2
    action, params = argv[0], json.loads(os.environ.get("SEGUR_PARAMS", "{}"))
    context = ssl.create_default_context(cafile=os.environ["SEGUR_CA_BUNDLE"])
    context.load_cert_chain(os.environ["SEGUR_CLIENT_CERT"], os.environ["SEGUR_CLIENT_KEY"])
    defects = frozenset(filter(None, os.environ.get("SEGUR_REFERENCE_DEFECTS", "").split(",")))
    client = ReferenceInsiClient(url=os.environ["SEGUR_INSI_URL"], ssl_context=context, defects=defects)
    if action == "insi.search_by_traits":
        answer = client.search_by_traits(**params)
    elif action == "insi.search_by_carte_vitale":
        answer = client.search_by_carte_vitale(**params)
    elif action == "insi.verify_identity":
        answer = client.verify_identity(params["identity"])
    elif action == "identity.export":
        answer = client.export_identifiers(params["identity"])
    else:
        print(f"unknown action {action!r}", file=sys.stderr)
        return 2
    print(json.dumps(answer, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
