//! The webhook's flags of `cxf-operator run`, named as the Helm chart passes them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::CertSource;
use super::cert_secret::CertPolicy;

/// Flags of the validating admission webhook.
#[derive(clap::Args, Clone, Debug)]
pub struct WebhookArgs {
    /// Serve the validating admission webhook (HTTPS, `POST /validate`) on this
    /// address, such as `0.0.0.0:9443`. Without it, no webhook is served.
    #[arg(long)]
    pub webhook_addr: Option<SocketAddr>,
    /// Read the serving certificate from `tls.crt` and `tls.key` in this directory
    /// (cert-manager's Secret, mounted), re-read on change. Without it, the operator
    /// manages the certificate itself in `--webhook-cert-secret`.
    #[arg(long, conflicts_with_all = ["webhook_config"])]
    pub webhook_cert_dir: Option<PathBuf>,
    /// Secret (in `--webhook-namespace`) holding the self-managed certificate; created
    /// if missing, renewed before expiry.
    #[arg(long, default_value = "cxf-operator-webhook-cert")]
    pub webhook_cert_secret: String,
    /// ValidatingWebhookConfiguration whose `caBundle` the operator keeps current
    /// (self-managed certificates only).
    #[arg(long)]
    pub webhook_config: Option<String>,
    /// Service in front of the webhook: the certificate is valid for
    /// `<service>.<namespace>.svc` and `<service>.<namespace>.svc.cluster.local`.
    #[arg(long, default_value = "cxf-operator")]
    pub webhook_service: String,
    /// Namespace of the Service and of the certificate Secret.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub webhook_namespace: String,
    /// More DNS names or IP addresses for the certificate (repeatable).
    #[arg(long = "webhook-host")]
    pub webhook_hosts: Vec<String>,
    /// Lifetime of a self-managed certificate, such as `2160h`.
    #[arg(long, default_value = "2160h", value_parser = parse_duration)]
    pub webhook_cert_lifetime: Duration,
    /// Renew a self-managed certificate this long before it expires.
    #[arg(long, default_value = "360h", value_parser = parse_duration)]
    pub webhook_cert_renew_before: Duration,
    /// How often every replica re-reads the certificate (Secret or directory).
    #[arg(long = "webhook-cert-refresh", default_value = "1m", value_parser = parse_duration)]
    pub cert_refresh: Duration,
}

impl WebhookArgs {
    /// The address and certificate source, or `None` when no webhook is served.
    pub fn settings(&self) -> Option<(SocketAddr, CertSource)> {
        let addr = self.webhook_addr?;
        let source = match &self.webhook_cert_dir {
            Some(dir) => CertSource::Directory(dir.clone()),
            None => {
                let (service, namespace) = (&self.webhook_service, &self.webhook_namespace);
                let mut hosts = vec![
                    format!("{service}.{namespace}.svc"),
                    format!("{service}.{namespace}.svc.cluster.local"),
                ];
                hosts.extend(self.webhook_hosts.iter().cloned());
                CertSource::SelfManaged {
                    policy: CertPolicy {
                        namespace: namespace.clone(),
                        secret: self.webhook_cert_secret.clone(),
                        hosts,
                        lifetime: self.webhook_cert_lifetime,
                        renew_before: self.webhook_cert_renew_before,
                    },
                    config_name: self.webhook_config.clone(),
                }
            }
        };
        Some((addr, source))
    }
}

/// A Go-style duration (`90s`, `1h30m`), as Kubernetes writes them.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration: kube::core::Duration = text.parse().map_err(|e| format!("{e}"))?;
    if duration.is_negative() {
        return Err(format!("{text} is negative"));
    }
    Ok(duration.into())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        webhook: WebhookArgs,
    }

    fn parse(args: &[&str]) -> WebhookArgs {
        Cli::try_parse_from(std::iter::once("run").chain(args.iter().copied()))
            .unwrap()
            .webhook
    }

    #[test]
    fn without_an_address_there_is_no_webhook() {
        assert!(parse(&[]).settings().is_none());
    }

    #[test]
    fn self_managed_certificates_cover_the_service_names() {
        let args = parse(&[
            "--webhook-addr=0.0.0.0:9443",
            "--webhook-service=op",
            "--webhook-namespace=sys",
            "--webhook-config=op-sys",
            "--webhook-host=127.0.0.1",
            "--webhook-cert-lifetime=48h",
        ]);
        let Some((
            addr,
            CertSource::SelfManaged {
                policy,
                config_name,
            },
        )) = args.settings()
        else {
            panic!()
        };
        assert_eq!(addr.port(), 9443);
        assert_eq!(
            policy.hosts,
            ["op.sys.svc", "op.sys.svc.cluster.local", "127.0.0.1"]
        );
        assert_eq!(policy.lifetime, Duration::from_secs(48 * 3600));
        assert_eq!(policy.renew_before, Duration::from_secs(360 * 3600));
        assert_eq!(config_name.as_deref(), Some("op-sys"));
    }

    #[test]
    fn a_certificate_directory_means_cert_manager() {
        let args = parse(&[
            "--webhook-addr=0.0.0.0:9443",
            "--webhook-cert-dir=/etc/cert",
        ]);
        assert!(
            matches!(args.settings(), Some((_, CertSource::Directory(dir))) if dir == std::path::Path::new("/etc/cert"))
        );
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
