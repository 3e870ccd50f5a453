#!/bin/sh
# azd postdeploy hook (azure.yaml, POSIX; postdeploy.ps1 is the Windows twin and does the same steps).
#
# Turns on the Event Grid subscription of the function run_events to the workspace's Azure ML run events. Its
# AzureFunction endpoint must name a function that exists, and run_events exists only after the code is deployed,
# so main.bicep cannot create it in the first `azd up`. Once the deployed app lists run_events, this hook sets
# AMLEXEC_ENABLE_EVENT_GRID=true in the azd environment and runs `azd provision`, which deploys app/eventgrid.bicep;
# every later provision keeps it. With AMLEXEC_ENABLE_EVENT_GRID already true it does nothing (idempotent).
#
# Skip it: azd env set AMLEXEC_SKIP_EVENT_GRID_HOOK true  (runs are then tracked by polling alone).
# Run it alone: azd hooks run postdeploy  (azd injects the environment's values: AZURE_ENV_NAME,
# AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, AZURE_FUNCTION_NAME, AMLEXEC_ENABLE_EVENT_GRID ...).
# Needs azd and the Azure CLI (az), signed in to the deployment's tenant.
set -eu

FUNCTION_NAME=run_events # main.bicep, module eventGrid: functionName
WAIT_SECONDS=${AMLEXEC_EVENT_GRID_HOOK_WAIT_SECONDS:-600}
POLL_SECONDS=15

say() { printf 'postdeploy: %s\n' "$*"; }
fail() {
  printf 'postdeploy: %s\n' "$*" >&2
  exit 1
}
is_true() { [ "$(printf '%s' "${1:-}" | tr '[:upper:]' '[:lower:]')" = "true" ]; }

if is_true "${AMLEXEC_SKIP_EVENT_GRID_HOOK:-}"; then
  say "AMLEXEC_SKIP_EVENT_GRID_HOOK is true: Event Grid left as it is (AMLEXEC_ENABLE_EVENT_GRID=${AMLEXEC_ENABLE_EVENT_GRID:-unset})."
  exit 0
fi
if is_true "${AMLEXEC_ENABLE_EVENT_GRID:-}"; then
  say "AMLEXEC_ENABLE_EVENT_GRID is true: the Event Grid subscription of $FUNCTION_NAME is provisioned already."
  exit 0
fi

for name in AZURE_ENV_NAME AZURE_SUBSCRIPTION_ID AZURE_RESOURCE_GROUP AZURE_FUNCTION_NAME; do
  eval "value=\${$name:-}"
  [ -n "$value" ] || fail "$name is not set: run this through azd (azd up, azd deploy or azd hooks run postdeploy) after a provision."
done
command -v azd >/dev/null 2>&1 || fail "azd is not on PATH."
command -v az >/dev/null 2>&1 ||
  fail "the Azure CLI (az) is needed to see whether $FUNCTION_NAME is deployed. Install it, az login, then: azd hooks run postdeploy. Or skip Event Grid: azd env set AMLEXEC_SKIP_EVENT_GRID_HOOK true"
az account show --output none >/dev/null 2>&1 || fail "the Azure CLI is not signed in: az login, then azd hooks run postdeploy."

# Flex Consumption lists a function once the host has started with the new package; wait for it, because Event Grid
# validates the endpoint when the subscription is created.
say "waiting for function $FUNCTION_NAME on $AZURE_FUNCTION_NAME (up to ${WAIT_SECONDS}s)."
waited=0
while :; do
  found=$(az functionapp function show --subscription "$AZURE_SUBSCRIPTION_ID" --resource-group "$AZURE_RESOURCE_GROUP" \
    --name "$AZURE_FUNCTION_NAME" --function-name "$FUNCTION_NAME" --query name --output tsv 2>/dev/null || true)
  [ -z "$found" ] || break
  if [ "$waited" -ge "$WAIT_SECONDS" ]; then
    fail "function $FUNCTION_NAME is not listed on $AZURE_FUNCTION_NAME after ${WAIT_SECONDS}s (az functionapp function list -g $AZURE_RESOURCE_GROUP -n $AZURE_FUNCTION_NAME). Fix the deployment, then: azd hooks run postdeploy. Or skip Event Grid: azd env set AMLEXEC_SKIP_EVENT_GRID_HOOK true"
  fi
  sleep "$POLL_SECONDS"
  waited=$((waited + POLL_SECONDS))
done

say "$FUNCTION_NAME is deployed: setting AMLEXEC_ENABLE_EVENT_GRID=true and provisioning the Event Grid subscription."
azd env set AMLEXEC_ENABLE_EVENT_GRID true --environment "$AZURE_ENV_NAME"
AMLEXEC_ENABLE_EVENT_GRID=true
export AMLEXEC_ENABLE_EVENT_GRID
if ! azd provision --no-prompt --environment "$AZURE_ENV_NAME"; then
  # Back to false: the next `azd up` then provisions without the subscription (before its code deployment, when
  # run_events may not exist yet) and this hook tries again after the deployment.
  azd env set AMLEXEC_ENABLE_EVENT_GRID false --environment "$AZURE_ENV_NAME" || true
  fail "azd provision with AMLEXEC_ENABLE_EVENT_GRID=true failed (see above); it is false again. Fix the cause, then: azd hooks run postdeploy"
fi
say "the Event Grid subscription of $FUNCTION_NAME is provisioned."
