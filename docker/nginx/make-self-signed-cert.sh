#!/usr/bin/env bash
# A self-signed certificate for trying the docker set-up (browsers will warn; use
# your CA's certificate in production). Writes fullchain.pem and privkey.pem into
# the folder nginx mounts as /etc/nginx/certs.
#   docker/nginx/make-self-signed-cert.sh [folder, default docker/certs] [host name, default localhost]
set -euo pipefail
dir="${1:-$(dirname "$0")/../certs}"
name="${2:-localhost}"
mkdir -p "$dir"
openssl req -x509 -newkey rsa:2048 -sha256 -days 30 -nodes \
  -keyout "$dir/privkey.pem" -out "$dir/fullchain.pem" \
  -subj "/CN=$name" \
  -addext "subjectAltName=DNS:$name,DNS:localhost,IP:127.0.0.1" 2>/dev/null
chmod 600 "$dir/privkey.pem"
echo "wrote $dir/fullchain.pem and $dir/privkey.pem (CN=$name, 30 days)"
