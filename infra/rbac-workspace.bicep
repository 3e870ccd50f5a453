// The Azure ML role on the one workspace amlexec launches in, deployed in the workspace's resource group.
// AzureML Data Scientist lets a principal submit, read and cancel runs and invoke batch endpoints, but not
// create or delete compute or change the workspace. The developer gets the same role so local runs
// (`func start`, `amlexec run`) reach the workspace with Entra too.
@description('Name of the existing workspace in this resource group.')
param workspaceName string
param appPrincipalId string
@description('Object id of the deploying developer; empty: no developer assignment.')
param developerPrincipalId string = ''
@allowed([
  'User'
  'ServicePrincipal'
])
param developerPrincipalType string = 'User'
@description('Role definition GUID; default AzureML Data Scientist.')
param roleDefinitionId string = 'f6c7c914-8db3-469d-8ca1-694a8f32e121'

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-04-01' existing = {
  name: workspaceName
}

resource appWorkspaceRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, appPrincipalId, roleDefinitionId)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource developerWorkspaceRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(developerPrincipalId)) {
  name: guid(workspace.id, developerPrincipalId, roleDefinitionId)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionId)
    principalId: developerPrincipalId
    principalType: developerPrincipalType
  }
}
