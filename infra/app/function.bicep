// The Function App on the Flex Consumption plan (Linux, Python 3.11). Its host storage, its deployment
// package, Application Insights and Service Bus are all reached as the user-assigned identity.
@description('Function App name (globally unique host name).')
param name string
@description('Flex Consumption plan name.')
param planName string
param location string = resourceGroup().location
param tags object = {}
@description('azd service this app hosts (azure.yaml services.api).')
param serviceName string = 'api'
@description('Storage account of the host and the deployment container.')
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
@description('Resource id of the user-assigned identity.')
param identityId string
@description('Client id of the user-assigned identity.')
param identityClientId string
@description('amlexec settings (names from amlexec.settings.SETTING_NAMES).')
param appSettings object
@allowed([
  '3.11'
])
param pythonVersion string = '3.11'
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048
// Flex Consumption's bounds (main.bicep, docs/deploy.md), repeated so this module cannot be handed a value the plan rejects.
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Identity wiring. union() puts these last, so appSettings cannot override them.
var identitySettings = {
  // Host storage: blob only (locks, timer schedule monitor, keys); no queue or table bindings are used.
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  // Service Bus triggers (connection "ServiceBusConnection"); the namespace comes from appSettings.
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identityClientId
  // amlexec's own clients (Service Bus sender, Azure ML) pick the identity from AZURE_CLIENT_ID.
  AZURE_CLIENT_ID: identityClientId
  // The connection string names the ingestion endpoint (it holds no secret: local auth is disabled);
  // the authentication string makes the host and OpenTelemetry exporter send with an Entra token.
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // The Python worker exports traces and logs itself (host.json telemetryMode: OpenTelemetry), once.
  PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true'
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references in app settings (e.g. AMLEXEC_SP_SECRET__<NAME>) resolve as this identity too.
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(appSettings, identitySettings)
}

// No publishing passwords: deployments (azd, Core Tools) authenticate with Entra.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output id string = site.id
output url string = 'https://${site.properties.defaultHostName}'
