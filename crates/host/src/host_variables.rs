//! `fermyon:spin/variables@2.0.0`: only the keys of `[component.<id>.variables]`.

use crate::bindings::imports::fermyon::spin2_0_0::variables::{self as v2, Error};
use crate::call_log::VARIABLES;
use crate::runtime::HostState;

impl v2::Host for HostState {
    async fn get(&mut self, name: String) -> Result<String, Error> {
        let result = self.lookup_variable(&name);
        self.count_call(VARIABLES, "get", || {
            let out = result.as_ref().map_or((0, 0), |value| (1, value.len()));
            ((1, name.len()), out)
        });
        result
    }
}

impl HostState {
    fn lookup_variable(&self, name: &str) -> Result<String, Error> {
        if crate::manifest::check_variable_name(name).is_err() {
            return Err(Error::InvalidName(format!(
                "invalid variable name '{name}'"
            )));
        }
        self.component
            .config
            .variables
            .get(name)
            .cloned()
            .ok_or_else(|| Error::Undefined(format!("no variable for \"{name}\"")))
    }
}
