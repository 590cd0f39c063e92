// The registry as the signer sees it, deployed into the registry's resource group: its
// login server and region, and the signer identity's roles on it. Which roles depends on
// the registry's role-assignment mode (roleAssignmentMode, API 2025-11-01), read here
// and handed to registry-roles.bicep, so no flag has to say it.

@description('Name of the existing container registry.')
param registryName string

@description('Principal id of the function app\'s user-assigned identity.')
param principalId string

@description('Grant delete rights, only for the referrers tag-schema clean-up.')
param grantDelete bool = false

@description('Name of the nested deployment of the role assignments (unique per environment).')
param rolesDeploymentName string

resource registry 'Microsoft.ContainerRegistry/registries@2025-11-01' existing = {
  name: registryName
}

// Registries created before the property existed report none: classic mode.
var roleAssignmentMode = registry.properties.?roleAssignmentMode ?? 'LegacyRegistryPermissions'

module roles 'registry-roles.bicep' = {
  name: rolesDeploymentName
  params: {
    registryName: registryName
    principalId: principalId
    usesRepositoryPermissions: roleAssignmentMode == 'AbacRepositoryPermissions'
    grantDelete: grantDelete
  }
}

output loginServer string = registry.properties.loginServer
output id string = registry.id
output location string = registry.location
output roleAssignmentMode string = roleAssignmentMode
