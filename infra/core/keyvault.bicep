// The secret that signs status URLs (AMLEXEC_STATUS_URL_KEY), kept in Key Vault and read by the app as a Key
// Vault reference with its managed identity. Access is by Azure RBAC only (no access policies), and the app's
// identity may read this one secret, nothing else in the vault.
@description('Key Vault name (3-24 letters, digits and hyphens).')
param name string
param location string = resourceGroup().location
param tags object = {}
@secure()
@description('Value of the status URL signing key (at least 32 random characters).')
param statusUrlKey string
@description('Object id of the app\'s user-assigned identity: the only reader of the secret.')
param appPrincipalId string

// Built-in role: Key Vault Secrets User (read secret values).
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    enablePurgeProtection: true
    // Key Vault references are resolved by App Service over the public endpoint (the app has no VNet).
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource statusUrlKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'amlexec-status-url-key'
  properties: {
    value: statusUrlKey
    contentType: 'text/plain; HMAC-SHA256 key for amlexec status URLs'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(statusUrlKeySecret.id, appPrincipalId, keyVaultSecretsUser)
  scope: statusUrlKeySecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output name string = vault.name
// Versionless: the app reads the latest version, so a rotation is a new version plus an app restart.
output statusUrlKeyUri string = statusUrlKeySecret.properties.secretUri
