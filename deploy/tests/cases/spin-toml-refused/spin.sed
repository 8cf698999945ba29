# The repository's spin.toml with a misspelt template reference.
s|"{{ jwks_origin }}"\]|"{{ jwks_orgin }}"]|
