"""Deployment: the Bicep templates, and in ``hooks`` the azd hooks (Python)."""
