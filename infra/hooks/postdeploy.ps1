# azd postdeploy hook (azure.yaml, Windows; postdeploy.sh is the POSIX twin and does the same steps).
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
# Needs azd and the Azure CLI (az), signed in to the deployment's tenant. Native commands are judged by their exit
# codes ($LASTEXITCODE), not by $ErrorActionPreference.
Set-StrictMode -Version Latest

$FunctionName = 'run_events' # main.bicep, module eventGrid: functionName
$WaitSeconds = 600
if ($env:AMLEXEC_EVENT_GRID_HOOK_WAIT_SECONDS) { $WaitSeconds = [int]$env:AMLEXEC_EVENT_GRID_HOOK_WAIT_SECONDS }
$PollSeconds = 15

function Say([string]$Message) { Write-Host "postdeploy: $Message" }
function Fail([string]$Message) {
    Write-Host "postdeploy: $Message" -ForegroundColor Red
    exit 1
}
function Test-True([string]$Value) { return ("$Value".Trim().ToLowerInvariant() -eq 'true') }

if (Test-True $env:AMLEXEC_SKIP_EVENT_GRID_HOOK) {
    Say "AMLEXEC_SKIP_EVENT_GRID_HOOK is true: Event Grid left as it is (AMLEXEC_ENABLE_EVENT_GRID=$env:AMLEXEC_ENABLE_EVENT_GRID)."
    exit 0
}
if (Test-True $env:AMLEXEC_ENABLE_EVENT_GRID) {
    Say "AMLEXEC_ENABLE_EVENT_GRID is true: the Event Grid subscription of $FunctionName is provisioned already."
    exit 0
}

foreach ($name in @('AZURE_ENV_NAME', 'AZURE_SUBSCRIPTION_ID', 'AZURE_RESOURCE_GROUP', 'AZURE_FUNCTION_NAME')) {
    if (-not [Environment]::GetEnvironmentVariable($name)) {
        Fail "$name is not set: run this through azd (azd up, azd deploy or azd hooks run postdeploy) after a provision."
    }
}
if (-not (Get-Command azd -ErrorAction SilentlyContinue)) { Fail 'azd is not on PATH.' }
if (-not (Get-Command az -ErrorAction SilentlyContinue)) {
    Fail "the Azure CLI (az) is needed to see whether $FunctionName is deployed. Install it, az login, then: azd hooks run postdeploy. Or skip Event Grid: azd env set AMLEXEC_SKIP_EVENT_GRID_HOOK true"
}
az account show --output none *> $null
if ($LASTEXITCODE -ne 0) { Fail 'the Azure CLI is not signed in: az login, then azd hooks run postdeploy.' }

# Flex Consumption lists a function once the host has started with the new package; wait for it, because Event Grid
# validates the endpoint when the subscription is created.
Say "waiting for function $FunctionName on $env:AZURE_FUNCTION_NAME (up to ${WaitSeconds}s)."
$waited = 0
while ($true) {
    $found = az functionapp function show --subscription $env:AZURE_SUBSCRIPTION_ID --resource-group $env:AZURE_RESOURCE_GROUP `
        --name $env:AZURE_FUNCTION_NAME --function-name $FunctionName --query name --output tsv 2> $null
    if ($LASTEXITCODE -eq 0 -and "$found".Trim()) { break }
    if ($waited -ge $WaitSeconds) {
        Fail "function $FunctionName is not listed on $env:AZURE_FUNCTION_NAME after ${WaitSeconds}s (az functionapp function list -g $env:AZURE_RESOURCE_GROUP -n $env:AZURE_FUNCTION_NAME). Fix the deployment, then: azd hooks run postdeploy. Or skip Event Grid: azd env set AMLEXEC_SKIP_EVENT_GRID_HOOK true"
    }
    Start-Sleep -Seconds $PollSeconds
    $waited += $PollSeconds
}

Say "$FunctionName is deployed: setting AMLEXEC_ENABLE_EVENT_GRID=true and provisioning the Event Grid subscription."
azd env set AMLEXEC_ENABLE_EVENT_GRID true --environment $env:AZURE_ENV_NAME
if ($LASTEXITCODE -ne 0) { Fail 'azd env set AMLEXEC_ENABLE_EVENT_GRID true failed (see above).' }
$env:AMLEXEC_ENABLE_EVENT_GRID = 'true'
azd provision --no-prompt --environment $env:AZURE_ENV_NAME
if ($LASTEXITCODE -ne 0) {
    # Back to false: the next `azd up` then provisions without the subscription (before its code deployment, when
    # run_events may not exist yet) and this hook tries again after the deployment.
    azd env set AMLEXEC_ENABLE_EVENT_GRID false --environment $env:AZURE_ENV_NAME
    Fail 'azd provision with AMLEXEC_ENABLE_EVENT_GRID=true failed (see above); it is false again. Fix the cause, then: azd hooks run postdeploy'
}
Say "the Event Grid subscription of $FunctionName is provisioned."
exit 0
