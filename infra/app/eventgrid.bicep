// Azure ML run events to the function run_events: the end of a run amlexec launched is published at once
// instead of at the next status check. Deployed in the workspace's resource group (a system topic lives
// beside its source, in the source's region). Polling remains the backstop if an event is lost.
@description('Name of the existing Azure ML workspace (in this resource group).')
param workspaceName string
@description('Event Grid system topic of the workspace: an existing one, or the one to create.')
param systemTopicName string
@description('False when the workspace already has a system topic (a resource can have only one).')
param createSystemTopic bool = true
@description('Resource id of the Function App.')
param functionAppId string
@description('Name of the Event Grid-triggered function.')
param functionName string = 'run_events'
param subscriptionName string = 'amlexec-run-events'
param tags object = {}

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-04-01' existing = {
  name: workspaceName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = if (createSystemTopic) {
  name: systemTopicName
  location: workspace.location
  tags: tags
  properties: {
    source: workspace.id
    topicType: 'Microsoft.MachineLearningServices.Workspaces'
  }
}

// An AzureFunction endpoint: Event Grid delivers through the Functions platform with the function's
// resource id, so no URL or key is written anywhere. The function must exist when this is deployed.
resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  name: '${systemTopicName}/${subscriptionName}'
  dependsOn: [
    systemTopic
  ]
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.MachineLearningServices.RunStatusChanged'
        'Microsoft.MachineLearningServices.RunCompleted'
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}

output systemTopicName string = systemTopicName
output subscriptionName string = subscriptionName
