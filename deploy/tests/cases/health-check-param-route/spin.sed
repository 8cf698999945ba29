# The repository's spin.toml with /health/... written as /health/:probe.
s|^route = "/health/\.\.\."$|route = "/health/:probe"|
