#!/bin/sh
# azd post-deploy hook: switch the Event Grid subscription on once the code is live.
#
# Event Grid validates an AzureFunction destination against the deployed function, so
# the first provision runs with deployEventSubscription=false. After `azd deploy` has
# published on_image_pushed, provision again with it on. Later `azd up` runs find the
# value already true and provision everything in one pass, so this hook does nothing.
set -eu

if [ "${SIGNER_DEPLOY_EVENT_SUBSCRIPTION:-false}" = "true" ]; then
  echo "Event Grid subscription already enabled; nothing to do."
  exit 0
fi

azd env set SIGNER_DEPLOY_EVENT_SUBSCRIPTION true

# The Functions host may take a moment to index the freshly deployed function.
attempt=1
until azd provision --no-prompt; do
  if [ "$attempt" -ge 3 ]; then
    echo "Creating the Event Grid subscription failed; run 'azd provision' again in a minute." >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  echo "Retrying in 60 s (the function may not be indexed yet)..." >&2
  sleep 60
done
