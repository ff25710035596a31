//! Method implementations, one file per family: thin layers that check params, call a
//! service and map its errors to documented codes.

mod lifecycle;
mod test_hooks;

use std::sync::Arc;

use jsonrpsee::RpcModule;

use crate::api::{LifecycleServer, TestHooksServer};
use crate::app::App;

/// The environment variable that turns on the `$/test/*` methods.
pub const TEST_HOOKS_ENV: &str = "CHINWAG_TEST_HOOKS";

/// Build the dispatcher with every method family registered.
pub fn build(app: Arc<App>) -> RpcModule<()> {
    let mut module = RpcModule::new(());
    let families = [lifecycle::Lifecycle::new(app.clone()).into_rpc()];
    for family in families {
        merge(&mut module, family);
    }
    if std::env::var(TEST_HOOKS_ENV).is_ok_and(|v| v == "1") {
        merge(&mut module, test_hooks::TestHooks.into_rpc());
    }
    let mut names: Vec<String> = module.method_names().map(str::to_string).collect();
    names.sort();
    app.set_method_names(names);
    module
}

fn merge<C: Send + Sync + 'static>(module: &mut RpcModule<()>, family: RpcModule<C>) {
    // Names are unique by construction (one trait per family, each with its own namespace).
    if let Err(error) = module.merge(family) {
        unreachable!("duplicate method name: {error}");
    }
}
