//! FrameworkConnection: builds the admin API client from the spec and the Secrets, and
//! reports Ready once a token was obtained and a read call succeeded.

use std::sync::Arc;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use tokio::time::Instant;
use tracing::info;

use super::context::{Connection, Context, apply_status, key};
use super::error::Error;
use super::observed::{Observed, by_id};
use super::secrets;
use crate::admin::{AdminClient, ClientConfig, Credentials, DEFAULT_REQUESTS_PER_SECOND};
use crate::resources::conditions;
use crate::resources::framework_connection::{FrameworkConnection, FrameworkConnectionStatus};

/// Name of this controller in metrics.
pub const CONTROLLER: &str = "framework_connection";

/// Reconciles one FrameworkConnection.
pub async fn reconcile(
    connection: Arc<FrameworkConnection>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    ctx.metrics.reconcile.reconciled(CONTROLLER);
    let namespace = connection.namespace().unwrap_or_default();
    let name = connection.name_any();
    let api: Api<FrameworkConnection> = Api::namespaced(ctx.client.clone(), &namespace);
    let generation = connection.meta().generation;
    let outcome = connect(&connection, &ctx, &namespace, &name).await;
    let condition = match &outcome {
        Ok(()) => conditions::ready(
            true,
            conditions::REASON_CONNECTED,
            "token obtained and admin API read",
            generation,
        ),
        Err(e) => conditions::ready(false, e.reason(), e.to_string(), generation),
    };
    let old = connection.status.clone().unwrap_or_default();
    let status = FrameworkConnectionStatus {
        conditions: conditions::merge(&old.conditions, condition),
        observed_generation: generation,
    };
    if status != old {
        apply_status(&api, &name, &status).await?;
    }
    match outcome {
        Ok(()) => Ok(Action::await_change()),
        Err(e) if e.is_transient() => Err(e),
        Err(e) => {
            let reference = connection.object_ref(&());
            ctx.event(&reference, true, e.reason(), "Connect", e.to_string())
                .await;
            Ok(Action::await_change())
        }
    }
}

/// Builds (or keeps) the client, and proves it works unless it already did for this
/// generation.
async fn connect(
    connection: &FrameworkConnection,
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<(), Error> {
    let config = client_config(connection, &ctx.stores.secrets, namespace)?;
    let drift_interval = connection
        .spec
        .drift_check_interval
        .map_or(ctx.default_drift_interval, Into::into);
    let k = key(namespace, name);
    let proven = connection.is_ready()
        && connection
            .status
            .as_ref()
            .and_then(|s| s.observed_generation)
            == connection.meta().generation;
    let existing = {
        let connections = ctx.connections.lock().expect("connections lock");
        connections
            .get(&k)
            .filter(|c| c.admin.is_built_from(&config))
            .map(|c| Arc::clone(&c.admin))
    };
    if let (Some(_), true) = (&existing, proven) {
        if let Some(c) = ctx
            .connections
            .lock()
            .expect("connections lock")
            .get_mut(&k)
        {
            c.drift_interval = drift_interval;
        }
        return Ok(());
    }
    let admin = match existing {
        Some(admin) => admin,
        None => Arc::new(AdminClient::new(config, ctx.metrics.admin.clone())?),
    };
    admin.check_token().await?;
    let registrations = admin.list_registrations(&[]).await?;
    let observed = Observed {
        registrations: Some(by_id(registrations, |r| r.id.as_ref())),
        ..Observed::default()
    };
    info!(connection = %k, "connected to the framework admin API");
    ctx.connections.lock().expect("connections lock").insert(
        k,
        Connection {
            admin,
            drift_interval,
            next_drift: Instant::now() + drift_interval,
            observed,
        },
    );
    Ok(())
}

/// The client settings of `connection`, with its credentials read from their Secrets.
fn client_config(
    connection: &FrameworkConnection,
    cache: &kube::runtime::reflector::Store<k8s_openapi::api::core::v1::Secret>,
    namespace: &str,
) -> Result<ClientConfig, Error> {
    let spec = &connection.spec;
    let credentials = match (&spec.auth.oauth2, &spec.auth.bearer_token) {
        (Some(oauth), _) => Credentials::OAuth {
            token_url: oauth.token_url.clone().unwrap_or_else(|| {
                format!("{}/oauth2/token", spec.gateway_url.trim_end_matches('/'))
            }),
            client_id: oauth.client_id.clone(),
            client_secret: secrets::read(cache, namespace, &oauth.client_secret)?,
            scope: oauth.scope.clone(),
        },
        (None, Some(token)) => Credentials::Bearer(secrets::read(cache, namespace, token)?),
        (None, None) => {
            return Err(Error::ConnectionNotReady(
                "spec.auth sets neither oauth2 nor bearerToken".into(),
            ));
        }
    };
    Ok(ClientConfig {
        gateway_url: spec.gateway_url.clone(),
        workspace: spec.workspace.clone(),
        credentials,
        ca_bundle: spec.ca_bundle.clone(),
        requests_per_second: spec
            .requests_per_second
            .unwrap_or(DEFAULT_REQUESTS_PER_SECOND),
        rule_update_verb: spec.rule_update_verb,
    })
}
