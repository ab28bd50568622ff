//! What a running task can reach: the store, the configuration and the outside world.

use std::sync::Arc;

use crate::config::Config;
use crate::db::Store;
use crate::handlers::Services;

#[derive(Clone)]
pub struct Context {
    pub store: Store,
    pub config: Arc<Config>,
    pub services: Arc<Services>,
}

impl Context {
    /// A context with the clients `config` describes.
    pub fn new(store: Store, config: Arc<Config>) -> anyhow::Result<Context> {
        let services = Services::from_config(&config, store.clone())?;
        Ok(Context {
            store,
            config,
            services: Arc::new(services),
        })
    }
}
