//! The webhook's certificates, made with rcgen: a fresh CA for each serving
//! certificate. The CA's key is used once and dropped, so nothing but the serving key
//! needs protecting; clients trust the CA through the `caBundle`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::OffsetDateTime;

/// A serving certificate with its key and the CA that signed it.
#[derive(Clone, PartialEq, Eq)]
pub struct ServingCert {
    /// PEM of the CA certificates to trust: the one that signed `cert_pem` first, then
    /// the previous one while replicas may still serve a certificate it signed.
    pub ca_pem: String,
    /// PEM of the serving certificate.
    pub cert_pem: String,
    /// PEM (PKCS#8) of the serving certificate's private key.
    pub key_pem: String,
    /// End of validity, in seconds since the Unix epoch.
    pub not_after: u64,
}

impl std::fmt::Debug for ServingCert {
    /// Never prints the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingCert")
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Making a certificate failed.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen refused the parameters or could not sign.
    #[error("generating the webhook {what}: {source}")]
    Generate {
        /// `CA` or `serving certificate`.
        what: &'static str,
        /// rcgen's error.
        source: rcgen::Error,
    },
}

impl ServingCert {
    /// Issues a serving certificate for `hosts` (DNS names or IP addresses), valid from
    /// a minute ago for `lifetime`, signed by a fresh CA valid as long. `previous_ca` is
    /// kept in the bundle after the new CA.
    ///
    /// # Errors
    ///
    /// [`CertError`] when a host is not a valid DNS name or signing fails.
    pub fn issue(
        hosts: &[String],
        lifetime: Duration,
        previous_ca: Option<&str>,
    ) -> Result<Self, CertError> {
        let ca_error = |source| CertError::Generate { what: "CA", source };
        let cert_error = |source| CertError::Generate {
            what: "serving certificate",
            source,
        };
        let now = OffsetDateTime::now_utc();
        let not_before = now - time::Duration::minutes(1);
        let not_after = now + lifetime;

        let ca_key = KeyPair::generate().map_err(ca_error)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(ca_error)?;
        ca_params.distinguished_name =
            name(&format!("cxf-operator webhook CA {}", now.unix_timestamp()));
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params.not_before = not_before;
        ca_params.not_after = not_after;
        let ca_cert = ca_params.self_signed(&ca_key).map_err(ca_error)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate().map_err(cert_error)?;
        let mut params = CertificateParams::new(hosts.to_vec()).map_err(cert_error)?;
        params.distinguished_name =
            name(hosts.first().map_or("cxf-operator webhook", String::as_str));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = not_before;
        params.not_after = not_after;
        let cert = params.signed_by(&key, &issuer).map_err(cert_error)?;

        let mut ca_pem = ca_cert.pem();
        if let Some(previous) = previous_ca.and_then(first_pem_block) {
            ca_pem.push_str(previous);
        }
        Ok(Self {
            ca_pem,
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            not_after: u64::try_from(not_after.unix_timestamp()).unwrap_or(0),
        })
    }

    /// Whether the certificate ends within `renew_before` of `now`.
    pub fn is_due(&self, now: SystemTime, renew_before: Duration) -> bool {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        now + renew_before >= Duration::from_secs(self.not_after)
    }

    /// How long until the certificate is due for renewal (zero if it is).
    pub fn due_in(&self, now: SystemTime, renew_before: Duration) -> Duration {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        Duration::from_secs(self.not_after).saturating_sub(now + renew_before)
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

/// The first `-----BEGIN CERTIFICATE-----` block of a PEM bundle.
fn first_pem_block(bundle: &str) -> Option<&str> {
    const END: &str = "-----END CERTIFICATE-----";
    let start = bundle.find("-----BEGIN CERTIFICATE-----")?;
    let end = bundle[start..].find(END)? + start + END.len();
    let end = if bundle[end..].starts_with('\n') {
        end + 1
    } else {
        end
    };
    Some(&bundle[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_a_certificate_for_the_hosts_with_its_ca() {
        let cert = ServingCert::issue(
            &["webhook.ns.svc".into(), "127.0.0.1".into()],
            Duration::from_secs(3600),
            None,
        )
        .unwrap();
        assert_eq!(cert.ca_pem.matches("BEGIN CERTIFICATE").count(), 1);
        assert!(cert.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(cert.key_pem.contains("PRIVATE KEY"));
        assert!(!format!("{cert:?}").contains("PRIVATE"));
        assert!(!cert.is_due(SystemTime::now(), Duration::from_secs(600)));
        assert!(cert.is_due(SystemTime::now(), Duration::from_secs(3600)));
        let due_in = cert.due_in(SystemTime::now(), Duration::from_secs(600));
        assert!(
            due_in > Duration::from_secs(2900) && due_in <= Duration::from_secs(3000),
            "{due_in:?}"
        );
    }

    #[test]
    fn a_renewal_keeps_only_the_latest_previous_ca() {
        let hosts = ["localhost".to_owned()];
        let first = ServingCert::issue(&hosts, Duration::from_secs(60), None).unwrap();
        let second =
            ServingCert::issue(&hosts, Duration::from_secs(60), Some(&first.ca_pem)).unwrap();
        let third =
            ServingCert::issue(&hosts, Duration::from_secs(60), Some(&second.ca_pem)).unwrap();
        assert_eq!(third.ca_pem.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(
            third
                .ca_pem
                .ends_with(first_pem_block(&second.ca_pem).unwrap())
        );
        assert!(
            !third
                .ca_pem
                .contains(first_pem_block(&first.ca_pem).unwrap())
        );
    }
}
