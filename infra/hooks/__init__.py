"""azd hooks: the steps of a deployment that depend on what is already deployed.

Run by azd (azure.yaml) from the project root as ``python3 -m infra.hooks.<name>``, with
the deployer's own Python and the standard library only, before anything of the project
is installed. They reach Azure Resource Manager with the account azd is signed in with
(``azd auth token``), so no Azure CLI is needed.

- ``preprovision``: finds the registry's and vault's resource groups and the registry's
  system topic, refuses to take over a resource group that is not this environment's,
  and checks the deployer's rights in every group the template deploys into, failing
  with the exact missing actions before anything is changed.
- ``postdeploy``: creates or updates this environment's Event Grid subscription once
  the function it delivers to is deployed (decided from what is deployed, not from a
  remembered flag).
- ``predown``: removes what ``azd down`` cannot see: the event subscription on the shared
  system topic and the identity's role assignments in other resource groups.
"""
