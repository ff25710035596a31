//! `$/test/*`: methods that exist only so the integration tests can exercise the router
//! (a slow request to cancel, a handler that panics). Off unless `CHINWAG_TEST_HOOKS=1`.

use std::time::Duration;

use jsonrpsee::core::{RpcResult, async_trait};

use crate::api::TestHooksApiServer;
use crate::protocol::AppError;
use crate::protocol::Params;
use crate::protocol::types::{PanicParams, SleepParams};

pub struct TestHooks;

#[async_trait]
impl TestHooksApiServer for TestHooks {
    async fn sleep(&self, params: Params<SleepParams>) -> RpcResult<u64> {
        tokio::time::sleep(Duration::from_millis(params.0.millis)).await;
        Ok(params.0.millis)
    }

    async fn panic(&self) -> RpcResult<()> {
        panic!("test hook panic");
    }

    async fn panic_blocking(&self, params: Params<PanicParams>) -> RpcResult<()> {
        let canary = params.0.canary;
        super::blocking::run(move || -> Result<(), AppError> {
            panic!("test hook panic holding {canary}");
        })
        .await
    }
}
