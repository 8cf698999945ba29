# The repository's spin.toml with a new required variable.
/^db_url = { required/a api_key = { required = true, secret = true }
