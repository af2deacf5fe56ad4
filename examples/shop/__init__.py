"""The shop example app: verified product search, encrypted cart, sealed orders (issue 12)."""
