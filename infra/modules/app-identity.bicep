// The signer's user-assigned identity: one principal for storage, Key Vault, the registry,
// Application Insights and the outcome topic. User-assigned so that its role assignments
// exist before the app first starts, and so that main.bicep can hand its principal to the
// modules in other resource groups before the app is created.

param name string
param location string
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
