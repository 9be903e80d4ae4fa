//! Memory's part of the daemon: open the mirror index on the router's own
//! session and keep it current until the daemon stops.

use mesh_core::daemon::Daemon;
use mesh_core::{Environment, Settings};

use super::keeper::{self, KeeperOptions};
use super::store::{MeshOptions, MeshStore};
use crate::error::Result;

/// Open this host's index on `daemon`'s session and add the index keeper
/// to its services. The keeper closes the index when it stops. Fails (and
/// leaves the daemon without the service) when the options are invalid or
/// the index cannot be opened; the caller then closes the daemon.
pub async fn serve_index(
    daemon: &mut Daemon,
    settings: &Settings,
    env: &Environment,
) -> Result<()> {
    let keeper_options = KeeperOptions::from_env(env)?;
    let options = MeshOptions::from_settings(settings, env)?;
    let session = daemon.session().clone();
    let store = MeshStore::with_session(options, session.clone()).await?;
    let stop = daemon.stop_signal();
    let model_dir = crate::embed::model_dir(&settings.paths.state_dir);
    // The keeper closes the store (it may have replaced a damaged index).
    daemon.spawn_service("index keeper", async move {
        keeper::run(store, session, keeper_options, model_dir, stop)
            .await
            .map_err(Into::into)
    });
    Ok(())
}
