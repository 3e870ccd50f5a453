// The Service Bus namespace amlexec runs on. Local (SAS) authentication is off: senders and receivers
// need an Entra identity with a data role on the entity they use (see rbac.bicep).
@description('Namespace name (6-50 characters, globally unique).')
param name string
param location string = resourceGroup().location
param tags object = {}
@allowed([
  'Standard'
  'Premium'
])
@description('Standard is the smallest tier with topics and duplicate detection.')
param sku string = 'Standard'
@description('Entity names, from the one place main.bicep writes them: requestQueue, statusQueue, rejectedQueue, eventsTopic.')
param entityNames object
@description('Create the events-topic subscription the Event Grid forwarder function reads (main.bicep enableEventGridOutput).')
param enableEventGridOutput bool = false
@description('Name of that subscription (written once in main.bicep).')
param eventGridForwarderSubscription string

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: union({
    name: sku
    tier: sku
  }, sku == 'Premium' ? {
    capacity: 1
  } : {})
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

// Launch requests. The message id is the request identity: duplicate detection drops a second send of
// the same request (or schedule occurrence) within a day, and amlexec's deterministic run names cover the
// rest. The lock is renewed by the host while a launch runs (host.json maxAutoLockRenewalDuration), so a
// short lock only decides how soon a crashed worker's message comes back. After maxDeliveryCount failed
// deliveries, or when a message expires, it is dead-lettered: nothing is dropped silently.
resource requestQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: entityNames.requestQueue
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P1D'
    requiresSession: false
    enablePartitioning: false
  }
}

// Scheduled status checks. Their message ids are deterministic per check, so a redelivered check that
// schedules its successor again is dropped as a duplicate.
resource statusQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: entityNames.statusQueue
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P1D'
    requiresSession: false
    enablePartitioning: false
  }
}

// Requests that can never run, forwarded byte for byte with their reasons (`amlexec rejected list`).
// Kept 30 days; the sender also got a `rejected` event on the topic.
resource rejectedQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: entityNames.rejectedQueue
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    deadLetteringOnMessageExpiration: false
    defaultMessageTimeToLive: 'P30D'
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P1D'
    requiresSession: false
    enablePartitioning: false
  }
}

// Completion events (CloudEvents). Every terminal event of a request carries the same message id, so the
// 7-day duplicate-detection window (the longest Service Bus allows) is what makes "one terminal event per
// request" hold when polling and Event Grid both see the end of a run.
resource eventsTopic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = {
  parent: namespace
  name: entityNames.eventsTopic
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P7D'
    defaultMessageTimeToLive: 'P14D'
    enablePartitioning: false
    supportOrdering: true
  }
}

// Example subscription: every event (the subscription's default rule is the true filter).
resource allEvents 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = {
  parent: eventsTopic
  name: 'all-events'
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
  }
}

// Example subscription: failures and time-outs only, for an alerting consumer.
resource failures 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = {
  parent: eventsTopic
  name: 'failures'
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
  }
}

// The Event Grid forwarder's subscription: every event (the default rule), so the forwarder alone decides what it
// publishes (terminal events, and `started` if asked). A message it cannot publish is redelivered, then
// dead-lettered after maxDeliveryCount, where it keeps its event id for a replay.
resource eventGridForwarder 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = if (enableEventGridOutput) {
  parent: eventsTopic
  name: eventGridForwarderSubscription
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
  }
}

// Replaces the subscription's default (true) rule, so only matching events are copied into it. `status`
// is an application property of every event message.
resource failuresRule 'Microsoft.ServiceBus/namespaces/topics/subscriptions/rules@2024-01-01' = {
  parent: failures
  name: '$Default'
  properties: {
    filterType: 'SqlFilter'
    sqlFilter: {
      sqlExpression: 'status IN (\'failed\', \'timedOut\')'
    }
  }
}

output name string = namespace.name
output id string = namespace.id
// For example sb-amlexec-x.servicebus.windows.net (taken from the endpoint, so sovereign clouds work too).
output fullyQualifiedNamespace string = replace(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':443/', '')
