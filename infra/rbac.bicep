// Role assignments in the app's resource group: each names exactly one scope, one principal and one role
// (guid(scope, principal, role)), and each scope is the narrowest that works.
//
//   app identity  Data Receiver  request queue, status queue          (its two queue triggers)
//                 Data Owner     request queue, status queue          (grantDataOwnerForScaling: target-based scaling)
//                 Data Sender    request queue                        (the scheduler enqueues due occurrences)
//                 Data Sender    status queue                         (scheduled status checks)
//                 Data Sender    rejected queue                       (rejected requests with their reasons)
//                 Data Sender    events topic                         (completion events)
//                 Data Receiver  events topic subscription eventgrid-forwarder  (enableEventGridOutput: the forwarder)
//                 Data Owner     events topic subscription eventgrid-forwarder  (enableEventGridOutput and
//                                                                      grantDataOwnerForScaling)
//                 Storage Blob Data Owner     storage account         (host storage, deployment package)
//                 Storage Table Data Contributor  storage account     (the request index: GET /api/requests)
//                 Key Vault Secrets User  the status URL key secret   (core/keyvault.bicep)
//                 Monitoring Metrics Publisher  Application Insights  (Entra-authenticated telemetry)
//   developer     Data Sender + Data Receiver  namespace              (optional: `func start`, amlexec send/rejected)
param appPrincipalId string
@description('Object id of the deploying developer; empty: no developer assignments.')
param developerPrincipalId string = ''
@allowed([
  'User'
  'ServicePrincipal'
])
param developerPrincipalType string = 'User'
param serviceBusNamespaceName string
@description('requestQueue, statusQueue, rejectedQueue, eventsTopic (from main.bicep).')
param entityNames object
@description('Grant Azure Service Bus Data Owner on every entity a trigger reads (the two queues; the forwarder\'s subscription with enableEventGridOutput), so the scale controller can read their message counts. Off: Data Receiver only, and scaling falls back to peeking at messages.')
param grantDataOwnerForScaling bool = true
@description('Grant Data Receiver on the events-topic subscription the Event Grid forwarder reads (main.bicep enableEventGridOutput).')
param enableEventGridOutput bool = false
@description('Name of that subscription (written once in main.bicep).')
param eventGridForwarderSubscription string
param storageAccountName string
param applicationInsightsName string

// Built-in role definition ids.
var serviceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
var serviceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
var serviceBusDataOwner = '090c5cfd-751d-490a-894a-3ce6f1109419'
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'
var withDeveloper = !empty(developerPrincipalId)

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource requestQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = {
  parent: namespace
  name: entityNames.requestQueue
}

resource statusQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = {
  parent: namespace
  name: entityNames.statusQueue
}

resource rejectedQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = {
  parent: namespace
  name: entityNames.rejectedQueue
}

resource eventsTopic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' existing = {
  parent: namespace
  name: entityNames.eventsTopic
}

resource eventGridForwarder 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' existing = {
  parent: eventsTopic
  name: eventGridForwarderSubscription
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource requestQueueReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(requestQueue.id, appPrincipalId, serviceBusDataReceiver)
  scope: requestQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiver)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource statusQueueReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(statusQueue.id, appPrincipalId, serviceBusDataReceiver)
  scope: statusQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiver)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource requestQueueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(requestQueue.id, appPrincipalId, serviceBusDataSender)
  scope: requestQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource statusQueueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(statusQueue.id, appPrincipalId, serviceBusDataSender)
  scope: statusQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource rejectedQueueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(rejectedQueue.id, appPrincipalId, serviceBusDataSender)
  scope: rejectedQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource eventsTopicSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsTopic.id, appPrincipalId, serviceBusDataSender)
  scope: eventsTopic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Optional: the Event Grid forwarder's trigger reads its own subscription of the events topic, and nothing else.
resource eventGridForwarderReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (enableEventGridOutput) {
  name: guid(eventGridForwarder.id, appPrincipalId, serviceBusDataReceiver)
  scope: eventGridForwarder
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiver)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Target-based scaling (on by default, grantDataOwnerForScaling). The Service Bus extension's scaler reads each
// trigger entity's message count through the management API (GetQueueRuntimeProperties,
// GetSubscriptionRuntimeProperties), which needs the Manage claim: with Entra ID only Data Owner carries it. Without
// it the scaler gives up and the host falls back to peeking at the first message, which has been reported to leave
// a scaled-to-zero app asleep; amlexec's tracking depends on scheduled status checks waking the app. Each grant is
// scoped to the one entity the trigger reads (a role at entity scope applies to that entity only), never the
// namespace: the app can then manage these entities, not the topic, the rejected queue or anyone's subscription.
// docs/deploy.md (Role assignments) gives the sources and what is inferred.
resource requestQueueOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantDataOwnerForScaling) {
  name: guid(requestQueue.id, appPrincipalId, serviceBusDataOwner)
  scope: requestQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource statusQueueOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantDataOwnerForScaling) {
  name: guid(statusQueue.id, appPrincipalId, serviceBusDataOwner)
  scope: statusQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The forwarder's trigger reads its subscription: the scaler asks for that subscription's counts only, so the
// subscription is the scope, not the events topic (which would cover every other subscriber too).
resource eventGridForwarderOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (enableEventGridOutput && grantDataOwnerForScaling) {
  name: guid(eventGridForwarder.id, appPrincipalId, serviceBusDataOwner)
  scope: eventGridForwarder
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The Functions host keeps its locks, timer schedule status and keys in blobs, and Flex Consumption reads
// the deployment package from a blob container. No queue access is granted: amlexec uses no storage queue
// bindings and no Durable Functions.
resource storageBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The request index: one table (amlexecrequests) amlexec creates on first use and writes each request to.
resource storageTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, appPrincipalId, monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The developer: send requests, read and resubmit rejected ones, and run the triggers locally against
// the deployed namespace (`func start`), all with `az login` instead of keys.
resource developerSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (withDeveloper) {
  name: guid(namespace.id, developerPrincipalId, serviceBusDataSender)
  scope: namespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
    principalId: developerPrincipalId
    principalType: developerPrincipalType
  }
}

resource developerReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (withDeveloper) {
  name: guid(namespace.id, developerPrincipalId, serviceBusDataReceiver)
  scope: namespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiver)
    principalId: developerPrincipalId
    principalType: developerPrincipalType
  }
}
