// Completion events for Data Factory custom event triggers: an Event Grid custom topic in the Event Grid
// schema (Data Factory reads no other), which the app's forwarder function publishes to with its managed
// identity. Local (key and SAS) authentication is off, so the app's EventGrid Data Sender role on this one topic
// is the only way to publish. Deployed only with enableEventGridOutput (main.bicep).
@description('Topic name (3-50 characters: letters, digits and hyphens).')
param name string
param location string = resourceGroup().location
param tags object = {}
@description('Object id of the app\'s user-assigned identity: the topic\'s only publisher.')
param appPrincipalId string

// Built-in role: EventGrid Data Sender (publish events; no management of the topic or its subscriptions).
var eventGridDataSender = 'd5a91429-5739-47e2-a06b-3470a27159e7'

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  properties: {
    inputSchema: 'EventGridSchema'
    disableLocalAuth: true
    minimumTlsVersionAllowed: '1.2'
    // The app publishes over the public endpoint like it reaches Service Bus (no VNet integration); only an
    // Entra token with the role below is accepted. Subscribers (Data Factory) are not affected by this setting.
    publicNetworkAccess: 'Enabled'
  }
}

resource senderRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, appPrincipalId, eventGridDataSender)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output name string = topic.name
output id string = topic.id
// For example https://evgt-amlexec-events-x.westeurope-1.eventgrid.azure.net/api/events
output endpoint string = topic.properties.endpoint
