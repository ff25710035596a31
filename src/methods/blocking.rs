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
            tracing::error!(%error, "a blocking task failed");
            Err(AppError::new(
                ErrorCode::InternalError,
                "internal error; details are in the log",
            )
            .into())
        }
    }
}
