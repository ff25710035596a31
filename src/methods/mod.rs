//! Method implementations, one file per family: thin layers that check params, call a
//! service and map its errors to documented codes.

mod blocking;
mod chat;
mod history;
mod lifecycle;
mod settings;
mod test_hooks;
mod vault;

use std::sync::Arc;

use jsonrpsee::RpcModule;

use crate::api::{
    ChatApiServer, HistoryApiServer, LifecycleApiServer, ProvidersApiServer, SettingsApiServer,
    TestHooksApiServer, VaultApiServer,
};
use crate::app::App;

/// The environment variable that turns on the `$/test/*` methods.
pub const TEST_HOOKS_ENV: &str = "CHINWAG_TEST_HOOKS";

/// Build the dispatcher with every method family registered.
pub fn build(app: Arc<App>) -> RpcModule<()> {
    let mut module = RpcModule::new(());
    merge(
        &mut module,
        lifecycle::Lifecycle::new(app.clone()).into_rpc(),
    );
    merge(
        &mut module,
        vault::VaultMethods::new(app.clone()).into_rpc(),
    );
    merge(
        &mut module,
        history::HistoryMethods::new(app.clone()).into_rpc(),
    );
    merge(
        &mut module,
        settings::SettingsMethods::new(app.clone()).into_rpc(),
    );
    merge(&mut module, chat::ChatMethods::new(app.clone()).into_rpc());
    merge(
        &mut module,
        chat::ProvidersMethods::new(app.clone()).into_rpc(),
    );
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
