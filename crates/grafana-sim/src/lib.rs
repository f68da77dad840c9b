//! grafana-sim: an emulator of the Grafana HTTP API and the Amazon Managed Grafana control
//! plane, for keyshift's tests, benchmarks and demo.
//!
//! keyshift's correctness hinges on Grafana's exact answers (status codes, error body shapes,
//! version quirks), so this crate deliberately shares no types with keyshift: a
//! misunderstanding in keyshift's client shows up as a failure against the simulator instead
//! of being mirrored by it. Behaviour follows `reference/grafana-http-api.md`.
//!
//! Layout of a running simulator (one HTTP listener):
//! - `{root}/g/{instance-id}/api/...`: the Grafana HTTP API of each instance (served from a
//!   sub-path, as Grafana's `serve_from_sub_path` does);
//! - `{root}/workspaces/...`: the AMG control plane (`amg.rs`);
//! - `{root}/_sim/...`: control endpoints for tests (faults, clock, reset, state, counts).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use grafana_sim::{FleetSpec, Simulator};
//! let sim = Simulator::from_fleet(FleetSpec::sample()?)?;
//! let running = sim.serve("127.0.0.1:0".parse()?).await?;
//! println!("{}", running.instance_url("g-0a1b2c3d4e"));
//! running.shutdown().await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

/// Implements `Debug` printing only the listed fields (and `..`), for types that hold a
/// secret: a new field stays out of logs until someone lists it on purpose.
macro_rules! debug_listing_only {
    ($type:ident { $($field:ident),+ $(,)? }) => {
        impl std::fmt::Debug for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($type))
                    $(.field(stringify!($field), &self.$field))+
                    .finish_non_exhaustive()
            }
        }
    };
}

pub mod clock;
pub mod credentials;
pub mod faults;
pub mod fleet;
pub mod state;
pub mod version;

mod amg;
mod control;
mod http;
mod server;

use std::net::SocketAddr;

use axum::Router;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use amg::signers::{SignedCall, SignerLog};
pub use faults::{FaultKind, FaultSpec};
pub use fleet::{FleetError, FleetSpec, WorkspaceKind};
pub use state::{AMG_TOKENS_PER_ACCOUNT, SharedState, SimState};
pub use version::GrafanaVersion;

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The fleet is invalid.
    #[error(transparent)]
    Fleet(#[from] FleetError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Requested address.
        addr: SocketAddr,
        /// Underlying error.
        source: std::io::Error,
    },
}

/// A simulator built from a fleet, ready to serve; also usable in-process through
/// [`Simulator::state`] (inject faults, advance the clock) without HTTP.
#[derive(Debug, Clone)]
pub struct Simulator {
    state: SharedState,
    signers: Option<SignerLog>,
}

impl Simulator {
    /// Builds the initial state (including 11.6 start-up auto-migration).
    pub fn from_fleet(fleet: FleetSpec) -> Result<Self, SimError> {
        Ok(Self {
            state: SimState::from_fleet(fleet)?,
            signers: None,
        })
    }

    /// The same simulator recording the signer (SigV4 access key id) of every AMG call in a
    /// [`SignerLog`], so tests can tell whose credentials each call carried.
    pub fn with_amg_signer_log(mut self) -> Self {
        self.signers = Some(SignerLog::default());
        self
    }

    /// The signer log, when [`Self::with_amg_signer_log`] turned it on.
    pub fn amg_signers(&self) -> Option<&SignerLog> {
        self.signers.as_ref()
    }

    /// The shared state, for in-process fault injection and clock control.
    pub fn state(&self) -> &SharedState {
        &self.state
    }

    /// The full HTTP application (Grafana instances, AMG control plane, `_sim` endpoints).
    pub fn router(&self) -> Router {
        Router::new()
            .nest("/_sim", control::router(self.state.clone()))
            .merge(http::router(self.state.clone()))
            .merge(amg::router(self.state.clone(), self.signers.clone()))
            .fallback(http::root_not_found)
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(
                http::panic_response,
            ))
    }

    /// Starts serving on `addr` (use port 0 for a free port) in a background task.
    pub async fn serve(&self, addr: SocketAddr) -> Result<RunningSim, SimError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr, source })?;
        let app = self
            .router()
            .into_make_service_with_connect_info::<server::ConnectionHandle>();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serving = axum::serve(server::KillableListener::new(listener), app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                });
            if let Err(error) = serving.await {
                tracing::error!(%error, "grafana-sim server stopped");
            }
        });
        Ok(RunningSim {
            addr: local,
            state: self.state.clone(),
            signers: self.signers.clone(),
            stop: Some(stop),
            task,
        })
    }
}

/// A simulator serving in the background; dropping it leaves the server running until the
/// runtime ends, [`RunningSim::shutdown`] stops it.
#[derive(Debug)]
pub struct RunningSim {
    addr: SocketAddr,
    state: SharedState,
    signers: Option<SignerLog>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RunningSim {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the root of everything.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Base URL of one Grafana instance (`{root}/g/{id}`); append `/api/...`.
    pub fn instance_url(&self, instance_id: &str) -> String {
        format!("{}/g/{instance_id}", self.base_url())
    }

    /// Endpoint URL to give `aws-sdk-grafana` (the AMG control plane is served at the root).
    pub fn amg_endpoint_url(&self) -> String {
        self.base_url()
    }

    /// The shared state, for in-process fault injection and clock control.
    pub fn state(&self) -> &SharedState {
        &self.state
    }

    /// The signer log of AMG calls, when [`Simulator::with_amg_signer_log`] turned it on.
    pub fn amg_signers(&self) -> Option<&SignerLog> {
        self.signers.as_ref()
    }

    /// Stops accepting connections and waits for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}
