// The signer identity's registry roles, chosen by the registry's role-assignment mode.
// A module of its own so that the mode, read from the registry by registry-access.bicep,
// is a parameter here: a resource condition must be known when its deployment starts.
//
//   - "RBAC Registry Permissions" (LegacyRegistryPermissions): AcrPush (pull + push, no
//     delete), plus AcrDelete for the referrers tag-schema clean-up.
//   - "RBAC Registry + ABAC Repository Permissions" (AbacRepositoryPermissions): AcrPush
//     is not honoured; Container Registry Repository Writer (read + write), or Repository
//     Contributor (read + write + delete) for the clean-up.

@description('Name of the existing container registry.')
param registryName string

@description('Principal id of the function app\'s user-assigned identity.')
param principalId string

@description('True when the registry uses ABAC repository permissions.')
param usesRepositoryPermissions bool

@description('Grant delete rights, only for the referrers tag-schema clean-up.')
param grantDelete bool

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
