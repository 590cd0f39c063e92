// Demo only (createRegistry=true): a new container registry in the app's resource
// group, so the whole system can be tried without an existing one. Production
// deployments point registryName at an existing registry instead.

param name string
param location string
param tags object = {}

@description('Object id of the person running the deployment: gets AcrPush to push test images (empty: none).')
param deployerPrincipalId string = ''

var roles = {
  acrPush: '8311e382-0749-4cb8-b61a-304f252e45ec' // AcrPush
}

resource registry 'Microsoft.ContainerRegistry/registries@2025-11-01' = {
  // checkov:skip=CKV_AZURE_166:Demo registry. Quarantine is a Premium feature in preview and would hold every push, the signer's own signatures included, until something marks it verified.
  // checkov:skip=CKV_AZURE_139:Demo registry. Public endpoint so you can push test images; anonymous pull and the admin user are off, so Entra ID governs every request.
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    // Entra ID only: no admin user, no anonymous pull.
    adminUserEnabled: false
    anonymousPullEnabled: false
    publicNetworkAccess: 'Enabled'
    // No policies block: the retention policy is Premium-only, and a Standard registry
    // keeps untagged manifests (the signatures among them) anyway.
  }
}

resource deployerPush 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(registry.id, deployerPrincipalId, roles.acrPush)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPush)
    principalId: deployerPrincipalId
  }
}

output name string = registry.name
