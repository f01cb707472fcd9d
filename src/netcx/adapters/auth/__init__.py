"""Access-token verification adapters (OpenID Connect / OAuth 2.0 JWT access tokens)."""
