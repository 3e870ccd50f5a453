#!/usr/bin/env bash
# Static security scan of infra/ (checkov, Bicep framework), judged by infra/scan.py against
# infra/checkov-accepted.yaml. checkov's pins clash with the app's, so it lives in its own virtualenv,
# created here on first use. Usage: infra/scan.sh [scan.py options]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CHECKOV_VENV:-$ROOT/.venv-checkov}"
CHECKOV_VERSION="3.3.30"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"

if [ ! -x "$VENV/bin/checkov" ] || ! "$VENV/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q "checkov==$CHECKOV_VERSION"
fi
exec "$VENV/bin/python" "$ROOT/infra/scan.py" --checkov "$VENV/bin/checkov" "$@"
