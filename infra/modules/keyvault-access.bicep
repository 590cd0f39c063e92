// Key Vault rights for the signer's identity, deployed into the vault's resource group.
// The vault must use the Azure RBAC permission model (enableRbacAuthorization true).
//
//   - Key Vault Crypto User: the `sign` operation with the certificate's key.
//   - Key Vault Certificate User: reading the certificate, and, through the secret
//     endpoint, the certificate's secret (its dataActions include
//     secrets/getSecret/action and keys/read). That covers every chain mode, the
//     CA-issued chain kept in the secret (SIGNER_CERT_CHAIN_SOURCE=secret) included, so
//     Key Vault Secrets User would add nothing.
// Both are vault-wide: use a vault dedicated to signing so the identity can reach
// nothing else.

@description('Name of the existing key vault (RBAC permission model).')
param keyVaultName string

@description('Principal id of the function app\'s user-assigned identity.')
param principalId string

var roles = {
  keyVaultCryptoUser: '12338af0-0e69-4776-bea7-57ae8d297424' // Key Vault Crypto User
  keyVaultCertificateUser: 'db79e9a7-68ee-4b58-9aeb-b90e7c24fcba' // Key Vault Certificate User
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

output vaultUri string = vault.properties.vaultUri
output id string = vault.id
