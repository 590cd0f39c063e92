// Key Vault rights for the signer's identity, deployed into the vault's resource group.
// The vault must use the Azure RBAC permission model (enableRbacAuthorization true).
//
//   - Key Vault Crypto User: the `sign` operation with the certificate's key (and
//     reading the key's public part, which the SDK does before the first sign).
//   - Key Vault Certificate User: reading the certificate (the leaf, and for
//     self-signed certificates the whole chain).
//   - Key Vault Secrets User: only when the chain comes from the certificate's
//     secret (SIGNER_CERT_CHAIN_SOURCE=secret, a CA-issued certificate imported
//     with its chain).
// These are vault-wide: use a vault dedicated to signing so the identity can reach
// nothing else.

@description('Name of the existing key vault (RBAC permission model).')
param keyVaultName string

@description('Principal id of the function app\'s user-assigned identity.')
param principalId string

@description('Also grant Key Vault Secrets User (chain source "secret").')
param grantSecretsUser bool = false

var roles = {
  keyVaultCryptoUser: '12338af0-0e69-4776-bea7-57ae8d297424' // Key Vault Crypto User
  keyVaultCertificateUser: 'db79e9a7-68ee-4b58-9aeb-b90e7c24fcba' // Key Vault Certificate User
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource cryptoUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, roles.keyVaultCryptoUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultCryptoUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource certificateUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, roles.keyVaultCertificateUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultCertificateUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantSecretsUser) {
  name: guid(vault.id, principalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output vaultUri string = vault.properties.vaultUri
output id string = vault.id
