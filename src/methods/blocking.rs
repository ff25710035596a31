//! Running service calls (which block on Argon2, fsync and decryption) off the async threads.

use jsonrpsee::core::RpcResult;

use crate::protocol::{AppError, ErrorCode};

/// Run `work` on the blocking pool and turn its error into a documented one.
pub async fn run<T, E>(work: impl FnOnce() -> Result<T, E> + Send + 'static) -> RpcResult<T>
where
    T: Send + 'static,
    E: Into<AppError> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(|error| error.into().into()),
        Err(error) => {
            let text = crate::task_failure::report(&error, "a method's blocking work");
            Err(AppError::new(ErrorCode::InternalError, text).into())
        }
    }
}
