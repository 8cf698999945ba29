//! Spin variables. An unset or empty optional variable reads as `None`.

/// The value of a component variable, `None` when it is empty or not declared.
pub fn optional(name: &str) -> Option<String> {
    match spin_sdk::variables::get(name) {
        Ok(value) if !value.trim().is_empty() => Some(value.trim().to_string()),
        _ => None,
    }
}

/// A variable the component cannot work without.
pub fn required(name: &str) -> Result<String, String> {
    optional(name).ok_or_else(|| format!("variable `{name}` is not set"))
}
