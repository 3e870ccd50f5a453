// Events that start Data Factory triggers (BlobEventsTrigger, CustomEventsTrigger) delivered to amlexec's request
// queue: an Event Grid subscription on a storage account's system topic, or on an existing custom topic, with a
// Service Bus queue destination. Event Grid delivers as the source topic's own managed identity
// (deliveryWithResourceIdentity), which holds Azure Service Bus Data Sender on that one queue: no key, no SAS,
// no function URL. Deployed in the source's resource group (a system topic lives beside its source); the role
// assignment is made in amlexec's resource group by main.bicep (app/trigger-events-role.bicep).
@description('Resource id of the source: a storage account (Microsoft.Storage/storageAccounts) or a custom topic (Microsoft.EventGrid/topics, with a system-assigned identity).')
param sourceId string
@description('Name of the storage account\'s Event Grid system topic: an existing one, or the one to create. Ignored for a custom topic.')
param systemTopicName string = ''
@description('False when the storage account already has a system topic (a resource can have only one).')
param createSystemTopic bool = true
@description('Resource id of amlexec\'s request queue.')
param requestQueueId string
@description('Event types delivered: the types the triggers listen to (BlobCreated, BlobDeleted, or the custom types).')
param includedEventTypes array
param subscriptionName string = 'amlexec-trigger-events'
param tags object = {}

var isStorage = contains(toLower(sourceId), '/providers/microsoft.storage/storageaccounts/')
var sourceName = last(split(sourceId, '/'))

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = if (isStorage) {
  name: sourceName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = if (isStorage && createSystemTopic) {
  name: systemTopicName
  location: storage.location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: sourceId
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource existingSystemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = if (isStorage && !createSystemTopic) {
  name: systemTopicName
}

resource customTopic 'Microsoft.EventGrid/topics@2025-02-15' existing = if (!isStorage) {
  name: sourceName
}

var delivery = {
  deliveryWithResourceIdentity: {
    identity: {
      type: 'SystemAssigned'
    }
    destination: {
      endpointType: 'ServiceBusQueue'
      properties: {
        resourceId: requestQueueId
      }
    }
  }
  // amlexec reads the Event Grid schema and CloudEvents alike; the Event Grid schema is what Data Factory reads.
  eventDeliverySchema: 'EventGridSchema'
  filter: {
    includedEventTypes: includedEventTypes
  }
  retryPolicy: {
    maxDeliveryAttempts: 30
    eventTimeToLiveInMinutes: 1440
  }
}

resource storageSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (isStorage) {
  name: '${systemTopicName}/${subscriptionName}'
  dependsOn: [
    systemTopic
    existingSystemTopic
  ]
  properties: delivery
}

resource topicSubscription 'Microsoft.EventGrid/topics/eventSubscriptions@2025-02-15' = if (!isStorage) {
  parent: customTopic
  name: subscriptionName
  properties: delivery
}

// The identity Event Grid delivers as: the role on the request queue is granted to it.
var storageTopicPrincipal = createSystemTopic ? systemTopic.identity.principalId : existingSystemTopic.identity.principalId
output deliveryPrincipalId string = isStorage ? storageTopicPrincipal : customTopic.identity.principalId
