// amlexec on Azure: a Flex Consumption Function App, its Service Bus entities, and nothing else.
// Every connection uses the app's user-assigned managed identity; no key, SAS or connection secret is
// created, read or stored. `azd up` deploys this file (subscription scope) with main.parameters.json.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name: names the resource group and tags every resource.')
param environmentName string

// Only regions that offer the Flex Consumption plan: anywhere else the plan fails to create halfway through a
// deployment, after the resource group and half the resources exist. The list is the one Microsoft's own azd Flex
// Consumption templates allow (docs/deploy.md); the live list is `az functionapp list-flexconsumption-locations`.
// Add a region here (and to tests/infra) when it appears there. The azd metadata keeps azd's region prompt.
@minLength(1)
@description('Region of the Function App and its resources: one that offers the Flex Consumption plan.')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'eastus2euap'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@minLength(1)
@description('Resource id of the existing Azure ML workspace amlexec launches runs in: /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.MachineLearningServices/workspaces/<name>.')
param workspaceId string

@description('Object id of the developer who runs amlexec locally (azd sets AZURE_PRINCIPAL_ID). Empty: no developer role assignments.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
])
@description('Kind of principal principalId names.')
param principalType string = 'User'

@description('Resource group to create; empty: rg-<environmentName>.')
param resourceGroupName string = ''

@allowed([
  'Standard'
  'Premium'
])
@description('Service Bus tier. Standard carries 256 KiB messages; Premium 1 MiB by default.')
param serviceBusSku string = 'Standard'

// On by default: the scale controller needs the Manage claim to read message counts, and amlexec's tracking depends
// on scheduled status-check messages waking a scaled-to-zero app (rbac.bicep, docs/deploy.md).
@description('Grant the app Azure Service Bus Data Owner on each entity a trigger reads (request and status queues; the forwarder\'s subscription with enableEventGridOutput) so target-based scaling can read message counts. Off: Data Receiver only, and scaling falls back to peeking at messages.')
param grantDataOwnerForScaling bool = true

// Off in a fresh environment: the subscription's AzureFunction endpoint must name an existing function, and run_events
// exists only once the code is deployed. The postdeploy hook (azure.yaml, infra/hooks/) sets
// AMLEXEC_ENABLE_EVENT_GRID=true and provisions again after the first deployment.
@description('Subscribe the function run_events to the workspace\'s Azure ML events. Needs the function deployed first; the postdeploy hook turns it on after the first deployment.')
param enableEventGrid bool = false

@description('Name of the workspace\'s existing Event Grid system topic (a resource has at most one). Empty: create one.')
param existingSystemTopicName string = ''

@description('Also publish completion events to an Event Grid custom topic in the Event Grid schema, for Data Factory custom event triggers: creates the topic (local auth off), the events-topic subscription the forwarder function reads, and their roles. Off: none of them exist.')
param enableEventGridOutput bool = false

@secure()
@minLength(32)
@description('AMLEXEC_STATUS_URL_KEY: signs the status URLs POST /api/runs hands out. azd generates it once and keeps it in the environment, so URLs stay valid across deployments; it is stored in Key Vault and the app reads it as a Key Vault reference.')
@metadata({
  azd: {
    type: 'generate'
    config: {
      length: 48
      noSpecial: true
    }
  }
})
param statusUrlKey string

@description('AMLEXEC_LINKED_SERVICES: linked-service definitions as a JSON string. Empty: one AzureMLService linked service for workspaceId, authenticated with the app\'s managed identity (MSI).')
param linkedServicesJson string = ''

@description('AMLEXEC_DEFAULT_LINKED_SERVICE: the linked service used when an activity names none.')
param defaultLinkedService string = 'AzureMLService'

@description('AMLEXEC_DATA_FACTORY_NAME: what pipeline().DataFactory returns.')
param dataFactoryName string = 'amlexec'

@description('AMLEXEC_SCHEDULES: schedules as a JSON string. Empty: no setting (no schedules).')
param schedulesJson string = ''

@description('AMLEXEC_TRIGGERS: Data Factory trigger definitions (ScheduleTrigger, TumblingWindowTrigger, BlobEventsTrigger, CustomEventsTrigger) as a JSON string, each with its amlexec payload. Empty: none.')
param triggersJson string = ''

@description('Resource id of a storage account (BlobEventsTrigger) or an Event Grid custom topic with a system-assigned identity (CustomEventsTrigger) whose events start triggers: an Event Grid subscription delivers them to the request queue as the topic\'s identity. Empty: none.')
param triggerEventSourceId string = ''

@description('Event types that subscription delivers (the types the triggers listen to).')
param triggerEventTypes array = [
  'Microsoft.Storage.BlobCreated'
]

@description('Name of the storage account\'s existing Event Grid system topic (a resource can have only one). Empty: create one.')
param existingTriggerSystemTopicName string = ''

@description('Role the app gets on the workspace: AzureML Data Scientist (submit, read and cancel runs; no compute or workspace changes). Pass a custom role\'s GUID to narrow it further.')
param mlRoleDefinitionId string = 'f6c7c914-8db3-469d-8ca1-694a8f32e121'

// Flex Consumption accepts a maximum instance count from 40 to 1000 (docs/deploy.md): a value outside fails here, at
// parameter validation, instead of at the site's creation.
@minValue(40)
@maxValue(1000)
@description('Flex Consumption: the most instances the app scales out to (40 to 1000).')
param maximumInstanceCount int = 40

@description('More app settings (for example AMLEXEC_POLL_INITIAL_SECONDS or AMLEXEC_SP_SECRET__<NAME> as a Key Vault reference). They cannot replace the settings main.bicep and app/function.bicep provision.')
param extraAppSettings object = {}

// The one place the Service Bus entity names are written: the namespace module creates these entities,
// the app settings hand the same names to the triggers (%AMLEXEC_REQUEST_QUEUE% ...) and to amlexec, and
// the role assignments are scoped to them. They equal amlexec's defaults and local.settings.sample.json.
var entityNames = {
  requestQueue: 'amlexec-requests'
  statusQueue: 'amlexec-status'
  rejectedQueue: 'amlexec-rejected'
  eventsTopic: 'amlexec-events'
}

// The events-topic subscription the Event Grid forwarder reads (with enableEventGridOutput), written once here for
// the subscription, its Data Receiver role and AMLEXEC_EVENTGRID_SUBSCRIPTION. It reads after the topic's
// duplicate detection, so it sees one terminal event per request, like every other subscriber.
var eventGridForwarderSubscription = 'eventgrid-forwarder'

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var workspaceParts = split(workspaceId, '/')
var workspaceSubscriptionId = workspaceParts[2]
var workspaceResourceGroup = workspaceParts[4]
var workspaceName = last(workspaceParts)
var deploymentContainerName = 'app-package-${take(resourceToken, 7)}'

// What AMLEXEC_LINKED_SERVICES holds unless linkedServicesJson is given (a Data Factory export's shape).
var defaultLinkedServices = [
  {
    name: 'AzureMLService'
    properties: {
      type: 'AzureMLService'
      description: 'The workspace named at deployment, reached with the Function App managed identity.'
      typeProperties: {
        subscriptionId: workspaceSubscriptionId
        resourceGroupName: workspaceResourceGroup
        mlWorkspaceName: workspaceName
        authentication: 'MSI'
      }
    }
  }
]
var linkedServices = empty(linkedServicesJson) ? string(defaultLinkedServices) : linkedServicesJson
var schedulesSetting = empty(schedulesJson) ? {} : {
  AMLEXEC_SCHEDULES: schedulesJson
}
var triggersSetting = empty(triggersJson) ? {} : {
  AMLEXEC_TRIGGERS: triggersJson
}
var triggerSourceParts = split(triggerEventSourceId, '/')
// Only with enableEventGridOutput: the app registers its forwarder function when the endpoint is set.
var eventGridOutputSettings = enableEventGridOutput ? {
  AMLEXEC_EVENTGRID_TOPIC_ENDPOINT: eventGridOutput.outputs.endpoint
  AMLEXEC_EVENTGRID_SUBSCRIPTION: eventGridForwarderSubscription
} : {}
// With the workspace's run notifications subscribed (enableEventGrid), run ends are published from them and the
// status checks become a safety net every 30 minutes (docs/tracking.md).
var eventGridTrackingSettings = enableEventGrid ? {
  AMLEXEC_EVENTGRID_TRACKING: 'true'
} : {}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'core/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-amlexec-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'core/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module monitoring 'core/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-amlexec-${resourceToken}'
    applicationInsightsName: 'appi-amlexec-${resourceToken}'
    location: location
    tags: tags
  }
}

module serviceBus 'app/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    name: 'sb-amlexec-${resourceToken}'
    location: location
    tags: tags
    sku: serviceBusSku
    entityNames: entityNames
    enableEventGridOutput: enableEventGridOutput
    eventGridForwarderSubscription: eventGridForwarderSubscription
  }
}

module eventGridOutput 'app/eventgrid-output.bicep' = if (enableEventGridOutput) {
  name: 'eventgrid-output'
  scope: rg
  params: {
    name: 'evgt-amlexec-events-${resourceToken}'
    location: location
    tags: tags
    appPrincipalId: identity.outputs.principalId
  }
}

module keyVault 'core/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-amlexec-${take(resourceToken, 13)}'
    location: location
    tags: tags
    statusUrlKey: statusUrlKey
    appPrincipalId: identity.outputs.principalId
  }
}

module functionApp 'app/function.bicep' = {
  name: 'function'
  scope: rg
  params: {
    name: 'func-amlexec-${resourceToken}'
    planName: 'plan-amlexec-${resourceToken}'
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    maximumInstanceCount: maximumInstanceCount
    // extraAppSettings first: it adds settings but cannot replace the ones provisioned here.
    appSettings: union(extraAppSettings, {
      ServiceBusConnection__fullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
      AMLEXEC_BUS: 'servicebus'
      AMLEXEC_REQUEST_QUEUE: entityNames.requestQueue
      AMLEXEC_STATUS_QUEUE: entityNames.statusQueue
      AMLEXEC_REJECTED_QUEUE: entityNames.rejectedQueue
      AMLEXEC_EVENTS_TOPIC: entityNames.eventsTopic
      AMLEXEC_SCHEDULER_TICK: '0 * * * * *'
      AMLEXEC_LINKED_SERVICES: linkedServices
      AMLEXEC_DEFAULT_LINKED_SERVICE: defaultLinkedService
      AMLEXEC_DATA_FACTORY_NAME: dataFactoryName
      AMLEXEC_MAX_PAYLOAD_BYTES: serviceBusSku == 'Premium' ? '1048576' : '262144'
      AMLEXEC_STATUS_URL_KEY: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.statusUrlKeyUri})'
      AMLEXEC_REQUEST_INDEX_ENDPOINT: storage.outputs.tableEndpoint
    }, schedulesSetting, triggersSetting, eventGridOutputSettings, eventGridTrackingSettings)
  }
}

module rbac 'rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    appPrincipalId: identity.outputs.principalId
    developerPrincipalId: principalId
    developerPrincipalType: principalType
    serviceBusNamespaceName: serviceBus.outputs.name
    entityNames: entityNames
    grantDataOwnerForScaling: grantDataOwnerForScaling
    enableEventGridOutput: enableEventGridOutput
    eventGridForwarderSubscription: eventGridForwarderSubscription
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

module workspaceRbac 'rbac-workspace.bicep' = {
  name: 'rbac-workspace-${resourceToken}'
  scope: resourceGroup(workspaceSubscriptionId, workspaceResourceGroup)
  params: {
    workspaceName: workspaceName
    appPrincipalId: identity.outputs.principalId
    developerPrincipalId: principalId
    developerPrincipalType: principalType
    roleDefinitionId: mlRoleDefinitionId
  }
}

module eventGrid 'app/eventgrid.bicep' = if (enableEventGrid) {
  name: 'eventgrid-${resourceToken}'
  scope: resourceGroup(workspaceSubscriptionId, workspaceResourceGroup)
  params: {
    workspaceName: workspaceName
    systemTopicName: !empty(existingSystemTopicName) ? existingSystemTopicName : 'evgt-amlexec-${resourceToken}'
    createSystemTopic: empty(existingSystemTopicName)
    functionAppId: functionApp.outputs.id
    functionName: 'run_events'
    tags: tags
  }
}

// Trigger events (optional): the source's Event Grid subscription to the request queue, and the role it delivers with.
module triggerEvents 'app/trigger-events.bicep' = if (!empty(triggerEventSourceId)) {
  name: 'trigger-events-${resourceToken}'
  scope: resourceGroup(triggerSourceParts[2], triggerSourceParts[4])
  params: {
    sourceId: triggerEventSourceId
    systemTopicName: !empty(existingTriggerSystemTopicName) ? existingTriggerSystemTopicName : 'evgt-amlexec-triggers-${resourceToken}'
    createSystemTopic: empty(existingTriggerSystemTopicName)
    requestQueueId: '${serviceBus.outputs.id}/queues/${entityNames.requestQueue}'
    includedEventTypes: triggerEventTypes
    tags: tags
  }
}

module triggerEventsRole 'app/trigger-events-role.bicep' = if (!empty(triggerEventSourceId)) {
  name: 'trigger-events-role'
  scope: rg
  params: {
    serviceBusNamespaceName: serviceBus.outputs.name
    requestQueueName: entityNames.requestQueue
    deliveryPrincipalId: triggerEvents.outputs.deliveryPrincipalId
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_URL string = functionApp.outputs.url
output SERVICE_API_NAME string = functionApp.outputs.name
output AMLEXEC_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output SERVICEBUS_NAMESPACE string = serviceBus.outputs.name
output SERVICEBUS_FULLY_QUALIFIED_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output AMLEXEC_REQUEST_QUEUE string = entityNames.requestQueue
output AMLEXEC_STATUS_QUEUE string = entityNames.statusQueue
output AMLEXEC_REJECTED_QUEUE string = entityNames.rejectedQueue
output AMLEXEC_EVENTS_TOPIC string = entityNames.eventsTopic
// With enableEventGridOutput: the forwarder's settings (for `func start`) and the topic a Data Factory custom
// event trigger names as its scope. Empty otherwise.
output AMLEXEC_EVENTGRID_TOPIC_ENDPOINT string = enableEventGridOutput ? eventGridOutput.outputs.endpoint : ''
output AMLEXEC_EVENTGRID_SUBSCRIPTION string = enableEventGridOutput ? eventGridForwarderSubscription : ''
output EVENTGRID_TOPIC_ID string = enableEventGridOutput ? eventGridOutput.outputs.id : ''
