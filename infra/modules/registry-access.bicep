// Registry rights for the signer's identity, deployed into the registry's resource group.
//
// The signer reads manifests and pushes signature manifests (and, without the referrers
// API, the referrers tag-schema index). Which built-in role grants that depends on the
// registry's role-assignment permissions mode:
//   - "RBAC Registry Permissions" (classic): AcrPush (pull + push, no delete).
//   - "RBAC Registry + ABAC Repository Permissions": AcrPush is NOT honoured there;
//     Container Registry Repository Writer grants read + write (no delete).
// Delete rights are only needed when the signer removes superseded referrers tag-schema
// indexes (SIGNER_REFERRERS_TAG_CLEANUP=true): AcrDelete (classic) or Container Registry
// Repository Contributor (read + write + delete, ABAC mode) replaces the Writer role.

@description('Name of the existing container registry.')
param registryName string

@description('Principal id of the function app\'s user-assigned identity.')
param principalId string

@description('True when the registry uses ABAC repository permissions (roleAssignmentMode AbacRepositoryPermissions).')
param usesRepositoryPermissions bool = false

@description('Grant delete rights, only for the referrers tag-schema clean-up.')
param grantDelete bool = false

var roles = {
  acrPush: '8311e382-0749-4cb8-b61a-304f252e45ec' // AcrPush
  acrDelete: 'c2f4ef07-c644-48eb-af81-4b1b4947fb11' // AcrDelete
  repositoryWriter: '2a1e307c-b015-4ebd-883e-5b7698a07328' // Container Registry Repository Writer
  repositoryContributor: '2efddaa5-3f1f-4df3-97df-af3f13818f4c' // Container Registry Repository Contributor
}

resource registry 'Microsoft.ContainerRegistry/registries@2025-11-01' existing = {
  name: registryName
}

// Classic mode: pull + push.
resource acrPush 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!usesRepositoryPermissions) {
  name: guid(registry.id, principalId, roles.acrPush)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPush)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Classic mode with the tag-schema clean-up: delete superseded referrer indexes.
resource acrDelete 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!usesRepositoryPermissions && grantDelete) {
  name: guid(registry.id, principalId, roles.acrDelete)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrDelete)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// ABAC mode: read + write in every repository (add an ABAC condition to narrow it).
resource repositoryWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (usesRepositoryPermissions && !grantDelete) {
  name: guid(registry.id, principalId, roles.repositoryWriter)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.repositoryWriter)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// ABAC mode with the tag-schema clean-up: read + write + delete.
resource repositoryContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (usesRepositoryPermissions && grantDelete) {
  name: guid(registry.id, principalId, roles.repositoryContributor)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.repositoryContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output loginServer string = registry.properties.loginServer
output id string = registry.id
output location string = registry.location
