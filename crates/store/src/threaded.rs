//! [`StoreThread`]: a store owned by a thread of its own, called from async code.
//!
//! A PostgreSQL call waits on a round trip, and its blocking client must neither run on nor
//! be dropped on an async worker. Callers on a runtime hand each call to this thread and
//! await the answer; the store is dropped on the thread when the last handle goes.

use futures::channel::oneshot;

use crate::{Storage, StoreError};

type Job = Box<dyn FnOnce(&mut dyn Storage) + Send>;

/// A handle to a store on its own thread (cheap to clone).
#[derive(Clone)]
pub struct StoreThread {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl StoreThread {
    /// Opens the store on a new thread with `open` and returns once it is open.
    pub async fn spawn(
        name: &str,
        open: impl FnOnce() -> Result<Box<dyn Storage>, StoreError> + Send + 'static,
    ) -> Result<StoreThread, StoreError> {
        let (opened_tx, opened_rx) = oneshot::channel();
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let mut store = match open() {
                    Ok(s) => {
                        let _ = opened_tx.send(Ok(()));
                        s
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                while let Ok(job) = rx.recv() {
                    job(&mut *store);
                }
            })
            .map_err(|e| StoreError::Copy(format!("cannot start a store thread: {e}")))?;
        opened_rx
            .await
            .map_err(|_| StoreError::Copy("the store thread stopped".into()))??;
        Ok(StoreThread { jobs })
    }

    /// Wraps an open store.
    pub fn new(name: &str, store: Box<dyn Storage>) -> Result<StoreThread, StoreError> {
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let mut store = store;
                while let Ok(job) = rx.recv() {
                    job(&mut *store);
                }
            })
            .map_err(|e| StoreError::Copy(format!("cannot start a store thread: {e}")))?;
        Ok(StoreThread { jobs })
    }

    /// Runs `f` on the store's thread and returns its result.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Storage) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |s| {
            let _ = tx.send(f(s));
        });
        let gone = || StoreError::Copy("the store thread stopped".into());
        self.jobs.send(job).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}
