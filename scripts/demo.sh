#!/usr/bin/env bash
# make demo: broker + agent + client on one machine. The pieces it runs come
# with the agent, client and broker issues (#3, #4, #5); until they land this
# says so plainly instead of pretending.
set -euo pipefail
cd "$(dirname "$0")/.."
cat <<MSG
make demo: not available yet.

The demo starts the broker (on its embedded SQLite), an agent with a demo
desktop and the client logged in. What exists today is the foundation they
share: the wire protocol, TLS transport, connect tickets and certificates.
Try them:

  certs/highrise-certs --dir /tmp/pki init
  certs/highrise-certs --dir /tmp/pki issue agent 127.0.0.1
  make check        # builds everything and runs every test
  make bench        # protocol and TLS throughput

MSG
exit 0
