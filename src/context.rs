//! What a running task can reach: the store and the configuration (clients join later).

use std::sync::Arc;

use crate::config::Config;
use crate::db::Store;

#[derive(Clone)]
pub struct Context {
    pub store: Store,
    pub config: Arc<Config>,
}
