// Demo only (createKeyVault=true): a new RBAC-mode key vault in the app's resource
// group. The signing certificate is created afterwards with
// infra/keyvault/notary-signing-cert-policy.json (docs/deploy.md).

param name string
param location string
param tags object = {}

@description('Object id of the person running the deployment: gets Key Vault Certificates Officer to create the signing certificate (empty: none).')
param deployerPrincipalId string = ''

var roles = {
  keyVaultCertificatesOfficer: 'a4417e6f-fecd-4de8-b567-7b0420556985' // Key Vault Certificates Officer
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109:Demo vault. The Flex Consumption app has no virtual network here, so its outbound addresses are not fixed and a firewall allow-list cannot name them; access is Entra ID + RBAC only. Use a private endpoint with VNet integration in production.
  // checkov:skip=CKV_AZURE_189:Same reason as CKV_AZURE_109: without VNet integration the signer reaches the vault over its public endpoint.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    // Azure RBAC, not access policies: the role assignments in keyvault-access.bicep
    // are the only grants.
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // A signing key must not be purgeable by mistake (note: the name stays reserved
    // for the retention period after the vault is deleted).
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource deployerCertificatesOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(vault.id, deployerPrincipalId, roles.keyVaultCertificatesOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultCertificatesOfficer)
    principalId: deployerPrincipalId
  }
}

output name string = vault.name
