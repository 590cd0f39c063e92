"""The function app's own support code: settings, client construction, logging.

``signer/`` is the library; this package adapts it to the Functions environment.
"""
