// Azure Service Bus Data Sender on the request queue for the identity Event Grid delivers trigger events as (the
// source topic's system-assigned identity; app/trigger-events.bicep). Scoped to the one queue.
param serviceBusNamespaceName string
param requestQueueName string
@description('Object id of the Event Grid topic\'s system-assigned identity.')
param deliveryPrincipalId string

// Built-in role: Azure Service Bus Data Sender.
var serviceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource requestQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = {
  parent: namespace
  name: requestQueueName
}

resource eventGridSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(requestQueue.id, deliveryPrincipalId, serviceBusDataSender)
  scope: requestQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
    principalId: deliveryPrincipalId
    principalType: 'ServicePrincipal'
  }
}
