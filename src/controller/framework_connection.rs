//! FrameworkConnection: builds the admin API client from the spec and the Secrets, and
//! reports Ready once a token was obtained and a read call succeeded, and Reachable
//! while the framework answers the drift lists (`drift.rs`). Its finalizer is
//! held while a resource with the operator's finalizer uses it.

use std::sync::Arc;
use std::time::Duration;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::info;

use super::context::Context;
use super::error::Error;
use super::finalizer;
use super::framework_object::users;
use super::outcome::{self, Done, Phase};
use super::secrets;
use super::state::ConnectionState;
use crate::admin::{AdminClient, ClientConfig, Credentials, DEFAULT_REQUESTS_PER_SECOND};
use crate::resources::conditions;
use crate::resources::framework_connection::FrameworkConnection;

/// Name of this controller in metrics.
pub const CONTROLLER: &str = "framework_connection";

/// How often a connection being deleted looks again for resources still using it.
const RELEASE_RECHECK: Duration = Duration::from_secs(10);

/// Reconciles one FrameworkConnection.
pub async fn reconcile(
    connection: Arc<FrameworkConnection>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    ctx.metrics.reconcile.reconciled(CONTROLLER);
    let namespace = connection.namespace().unwrap_or_default();
    let api: Api<FrameworkConnection> = Api::namespaced(ctx.client.clone(), &namespace);
    if connection.meta().deletion_timestamp.is_some() {
        return release(&connection, &ctx, &api).await;
    }
    let own = connection.status.as_ref();
    let mut status = ctx.latest_status(&*connection, own).unwrap_or_default();
    let result = connect(&connection, &ctx, &api, &namespace).await;
    // Once connected, whether the framework answers the drift lists (the drift loop
    // triggers this reconcile when that changes).
    if let Some(state) = ctx.state.get(&ObjectRef::from_obj(&*connection)) {
        status.conditions = conditions::merge(
            &status.conditions,
            conditions::reachable(state.outage().as_deref(), connection.meta().generation),
        );
    }
    outcome::report(
        CONTROLLER,
        &*connection,
        own,
        &ctx,
        &api,
        status,
        result.map(|()| Done::Synced),
        Phase::Apply(
            conditions::REASON_CONNECTED,
            "token obtained and admin API read",
        ),
        None,
    )
    .await
}

/// A connection being deleted keeps its finalizer (and its client) while a resource
/// with the operator's finalizer uses it, so that their cleanup can still call the
/// framework (a namespace deletion deletes them all at once).
async fn release(
    connection: &FrameworkConnection,
    ctx: &Context,
    api: &Api<FrameworkConnection>,
) -> Result<Action, Error> {
    if !finalizer::has(connection) {
        return Ok(Action::await_change());
    }
    let name = connection.name_any();
    let reference = ObjectRef::from_obj(connection);
    let users = users(&ctx.stores.registrations, &reference)
        .iter()
        .filter(|r| finalizer::has(r.as_ref()))
        .count()
        + users(&ctx.stores.rules, &reference)
            .iter()
            .filter(|r| finalizer::has(r.as_ref()))
            .count();
    if users > 0 {
        info!(connection = %name, users, "deleting: waiting for the resources using it");
        // Their cleanups trigger this reconcile; the requeue covers a finalizer removed
        // by hand.
        return Ok(Action::requeue(RELEASE_RECHECK));
    }
    finalizer::remove(api, connection).await?;
    ctx.state.remove(&reference);
    ctx.forget(connection);
    Ok(Action::await_change())
}

/// Builds (or keeps) the client, and proves it works unless it already did for this
/// generation; a new client triggers the resources that use the connection.
async fn connect(
    connection: &FrameworkConnection,
    ctx: &Context,
    api: &Api<FrameworkConnection>,
    namespace: &str,
) -> Result<(), Error> {
    if !finalizer::has(connection) {
        finalizer::mark(api, connection, None).await?;
    }
    secrets::ensure_cached(
        &ctx.client,
        &ctx.stores.secrets,
        namespace,
        connection.secret_refs(),
    )
    .await?;
    let config = client_config(connection, &ctx.stores.secrets, namespace)?;
    let drift_interval = connection
        .spec
        .drift_check_interval
        .map_or(ctx.default_drift_interval, Into::into);
    let reference = ObjectRef::from_obj(connection);
    let proven = connection.is_ready()
        && connection
            .status
            .as_ref()
            .and_then(|s| s.observed_generation)
            == connection.meta().generation;
    let existing = ctx
        .state
        .get(&reference)
        .filter(|c| c.admin.is_built_from(&config));
    if let (Some(state), true) = (&existing, proven) {
        state.set_drift_interval(drift_interval);
        return Ok(());
    }
    let admin = match existing {
        Some(state) => Arc::clone(&state.admin),
        None => Arc::new(AdminClient::new(config, ctx.metrics.admin.clone())?),
    };
    admin.check_token().await?;
    let registrations = admin.list_registrations(&[]).await?;
    info!(connection = %reference, "connected to the framework admin API");
    ctx.state.insert(
        reference.clone(),
        Arc::new(ConnectionState::new(admin, drift_interval, registrations)),
    );
    ctx.trigger_dependents(&reference);
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
